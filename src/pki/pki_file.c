/* Files of the CA tool: whole small reads, and writes that never follow a
 * planted symlink nor leave a half-written file behind. */
#include "pki_int.h"

#include <wolfssl/wolfcrypt/memory.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "log.h"

/* ---- files --------------------------------------------------------- */

/* Reads a whole (small) file, NUL-terminated for the PEM parsers. Key files
 * are wiped by the caller before free(). */
int pki_read_file(const char *path, uint8_t **out, size_t *out_len)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t off = 0;
	int fd, ret = ZT_EIO;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		log_error("pki: cannot open %s: %s", path, strerror(errno));
		return ZT_EIO;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > PKI_FILE_MAX) {
		log_error("pki: %s is not a regular file under %d bytes", path,
			  PKI_FILE_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		ret = ZT_ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("pki: cannot read %s: %s", path,
				  n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		off += (size_t)n;
	}
	buf[off] = 0;
	*out = buf;
	*out_len = off;
	buf = NULL;
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

static int write_new(const char *path, const void *data, size_t len,
		     mode_t mode);

/* Written to a new file (O_EXCL, O_NOFOLLOW: never through a planted
 * symlink, never into someone else's file) that then replaces the path
 * whole; rename replaces a symlink at the path, it does not follow it.
 * fchmod as well as the create mode: the umask may be stricter than we
 * want for certificates. */
static int write_file(const char *path, const void *data, size_t len,
		      mode_t mode)
{
	char tmp[PATH_MAX];
	int ret;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp)) {
		log_error("pki: path too long: %s", path);
		return ZT_EINVAL;
	}
	/* A leftover from an interrupted run; unlink removes a symlink
	 * itself, not its target. */
	unlink(tmp);
	ret = write_new(tmp, data, len, mode);
	if (ret == 0 && rename(tmp, path) != 0) {
		log_error("pki: cannot replace %s: %s", path, strerror(errno));
		ret = ZT_EIO;
	}
	if (ret != 0)
		unlink(tmp);
	return ret;
}

static int write_new(const char *path, const void *data, size_t len,
		     mode_t mode)
{
	const uint8_t *p = data;
	int fd, ret = ZT_EIO;

	fd = open(path, O_CREAT | O_EXCL | O_NOFOLLOW | O_WRONLY | O_CLOEXEC,
		  mode);
	if (fd < 0) {
		log_error("pki: cannot create %s: %s", path, strerror(errno));
		return ZT_EIO;
	}
	if (fchmod(fd, mode) < 0) {
		log_error("pki: cannot chmod %s: %s", path, strerror(errno));
		goto out;
	}
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			log_error("pki: cannot write %s: %s", path,
				  strerror(errno));
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) < 0) {
		log_error("pki: cannot sync %s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (close(fd) < 0 && ret == 0) {
		log_error("pki: cannot close %s: %s", path, strerror(errno));
		ret = ZT_EIO;
	}
	return ret;
}

/* PEM of a DER blob; `type` is wolfSSL's CERT_TYPE or PKCS8_PRIVATEKEY_TYPE. */
int pki_write_pem(const char *path, const uint8_t *der, size_t der_len,
		     int type, mode_t mode)
{
	size_t cap = der_len * 2 + 128;
	uint8_t *pem = malloc(cap);
	int n, ret = ZT_ETLS;

	if (pem == NULL)
		return ZT_ENOMEM;
	n = wc_DerToPem(der, (word32)der_len, pem, (word32)cap, type);
	if (n <= 0) {
		log_error("pki: PEM encoding for %s failed (%d)", path, n);
		goto out;
	}
	ret = write_file(path, pem, (size_t)n, mode);
out:
	wc_ForceZero(pem, cap);
	free(pem);
	return ret;
}

