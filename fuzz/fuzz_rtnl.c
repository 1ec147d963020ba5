/* libFuzzer target for route netlink change notices (src/wire/rtnl.c).
 * Arbitrary bytes are parsed as one datagram from the socket: the parser
 * must not read out of bounds (ASan), must return a message count or
 * ZT_EINVAL, must report only known kinds, and a message about the
 * skipped interface can only take kinds away. abort() on any violation. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "err.h"
#include "rtnl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned all = 0, some = 0;
	int n = zt_rtnl_changes(data, size, 0, &all);
	int m = zt_rtnl_changes(data, size, 2, &some);

	if ((n < 0 && n != ZT_EINVAL) || n != m)
		abort();
	if ((size_t)(n > 0 ? n : 0) > size / 16)
		abort();
	if ((all | some) &
	    ~(unsigned)(ZT_RTNL_ADDR | ZT_RTNL_LINK | ZT_RTNL_ROUTE))
		abort();
	if (some & ~all)
		abort();
	return 0;
}
