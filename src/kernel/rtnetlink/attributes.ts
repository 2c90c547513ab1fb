/** rtnetlink numbers both the requests skiff sends (messages.ts) and the dumps it reads (dumps.ts) use: linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/if.h. */
export const NLM_F_REQUEST = 0x1;
export const RTM_NEWLINK = 16;
export const RTM_NEWADDR = 20;
export const AF_UNSPEC = 0;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const IFF_UP = 0x1;
export const IFLA_ADDRESS = 1;
export const IFLA_IFNAME = 3;
export const IFLA_MASTER = 10;
export const IFLA_LINKINFO = 18;
export const IFLA_INFO_SLAVE_DATA = 5;
export const IFLA_BRPORT_ISOLATED = 33;
export const IFA_ADDRESS = 1;
export const IFA_LOCAL = 2;
export const IFINFOMSG_LEN = 16;
