/*
 * standalone.c: a main() for fuzz targets built without libFuzzer.  Feeds
 * each file named on the command line (or every file in a directory named
 * there) to LLVMFuzzerTestOneInput once, so the corpus is a regression test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = read_file_full(path, 4 * 1024 * 1024, &data, &len);
	if (r < 0) {
		fprintf(stderr, "%s: cannot read (%d)\n", path, r);
		return r;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	return 0;
}

int main(int argc, char **argv)
{
	int n = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0)
			return 1;
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) < 0)
				return 1;
			n++;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d)
			return 1;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			_cleanup_free_ char *p = path_join(argv[i], de->d_name);
			if (!p || run_file(p) < 0) {
				closedir(d);
				return 1;
			}
			n++;
		}
		closedir(d);
	}
	printf("%d inputs ran\n", n);
	return 0;
}
