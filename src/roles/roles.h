/* The three roles, dispatched from main.c's table. */
#ifndef ZT_ROLES_H
#define ZT_ROLES_H

#include "daemon.h"

extern const struct zt_role_ops zt_relay_ops;
extern const struct zt_role_ops zt_connector_ops;
extern const struct zt_role_ops zt_agent_ops;

#endif
