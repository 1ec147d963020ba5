/* Least privilege: once a daemon holds its sockets, TUN device and keys,
 * it gives up what it no longer needs, for good (no way back, no new
 * privileges through exec). */
#ifndef ZT_PRIVS_H
#define ZT_PRIVS_H

/* Switches to user (if not NULL or ""), then keeps at most CAP_NET_ADMIN
 * (when keep_net_admin: the agent changing its TUN routes) and drops every
 * other capability from the effective, permitted, inheritable, ambient and
 * bounding sets; sets no_new_privs. Returns 0 or ZT_EDENIED with a log
 * line (unknown user, not allowed to switch). */
int zt_privs_drop(const char *user, int keep_net_admin);

#endif
