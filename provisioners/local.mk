# provisioners/: programs behind the controller's provisioner contract
# (docs/datastores.md "Provisioners").  The local one is installed where the
# controller looks for it by default.
pkglibexec_SCRIPTS = provisioners/cairn-provision-local
EXTRA_DIST += provisioners/cairn-provision-local provisioners/example-cloud-cli
