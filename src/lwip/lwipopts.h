/* lwIP options for the agent's userspace TCP: NO_SYS (driven from the
 * libuv loop), TCP only (UDP and ICMP flows are handled from parsed packets
 * without lwIP), large windows and segments because the TUN is not a wire:
 * kernel TCP <-> lwIP runs with a 15 KiB-class MTU (TUN MTU 15040). */
#ifndef ZT_LWIPOPTS_H
#define ZT_LWIPOPTS_H

#define NO_SYS 1
#define LWIP_TIMERS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define LWIP_DNS 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_IGMP 0
#define LWIP_RAW 0
#define LWIP_UDP 0
#define LWIP_ICMP 0
#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_ND6_ALLOW_RA_UPDATES 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_ICMP6 1 /* required by IPv6 */
#define LWIP_IPV6_FRAG 0
#define LWIP_IPV6_REASS 0
#define IP_REASSEMBLY 0
#define IP_FRAG 0
#define LWIP_STATS 0
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0
#define LWIP_SINGLE_NETIF 1
#define LWIP_CHECKSUM_ON_COPY 1
/* Our parser already verified every checksum of packets from the TUN. */
#define CHECKSUM_CHECK_IP 0
#define CHECKSUM_CHECK_TCP 0
#define CHECKSUM_CHECK_ICMP6 0

/* Memory: the heap is the C library's, pools are sized for many flows. */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define MEMP_NUM_TCP_PCB 8192
#define MEMP_NUM_TCP_PCB_LISTEN 1024
#define MEMP_NUM_TCP_SEG 65535
#define MEMP_NUM_PBUF 4096
#define PBUF_POOL_SIZE 4096
#define PBUF_POOL_BUFSIZE 2048

/* TCP: MSS just under the 16 KiB limit lwIP's init.c accepts, window
 * scaling so the window is not capped at 64 KiB. */
#define LWIP_TCP 1
#define TCP_MSS 15000
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 6
#define TCP_WND (1024 * 1024)
#define TCP_SND_BUF (1024 * 1024)
#define TCP_SND_QUEUELEN 1024
#define TCP_SNDLOWAT 4096 /* init.c: must stay 4*MSS below 0xffff */
#define TCP_SNDQUEUELOWAT (TCP_SND_QUEUELEN / 2)
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_SACK_OUT 1
#define TCP_OVERSIZE TCP_MSS
#define LWIP_TCP_TIMESTAMPS 0
#define TCP_LISTEN_BACKLOG 0
#define LWIP_CALLBACK_API 1
/* One slot, for its passive-open callback: the pcb made from a SYN is bound
 * to its connection as it is made (netstack.c). */
#define LWIP_TCP_PCB_NUM_EXT_ARGS 1
/* Listeners come and go per port while older connections on that port sit
 * in TIME_WAIT: they must be able to bind again. */
#define SO_REUSE 1
#define LWIP_TCP_KEEPALIVE 0
#define TCP_TMR_INTERVAL 100

#define LWIP_NOASSERT 1
#define LWIP_DEBUG 0

#endif
