/*
 * backup-cli.h: `cairn-agent backup list|verify|restore|decrypt`, the
 * offline access to a datastore's backups without a controller
 * (docs/backups.md "The offline sub-command").
 */
#pragma once

/* argv[0] is "backup".  Returns the process exit status. */
int backup_cli_main(int argc, char **argv);
