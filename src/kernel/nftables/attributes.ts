/**
 * nf_tables netlink numbers both the requests skiff sends (messages.ts) and
 * the rule dumps it reads (rules.ts) use: linux/netfilter/nfnetlink.h and
 * linux/netfilter/nf_tables.h.
 */
export const NFNL_SUBSYS_NFTABLES = 10;
export const NFT_MSG_NEWRULE = 6;
export const NFTA_RULE_TABLE = 1;
export const NFTA_RULE_CHAIN = 2;
export const NFTA_RULE_EXPRESSIONS = 4;
export const NFTA_LIST_ELEM = 1;
export const NFTA_EXPR_NAME = 1;
export const NFTA_EXPR_DATA = 2;
export const NFTA_DATA_VALUE = 1;
export const NFTA_PAYLOAD_DREG = 1;
export const NFTA_PAYLOAD_BASE = 2;
export const NFTA_PAYLOAD_OFFSET = 3;
export const NFTA_PAYLOAD_LEN = 4;
export const NFTA_PAYLOAD_SREG = 5;
export const NFTA_META_KEY = 2;
export const NFTA_CMP_OP = 2;
export const NFTA_CMP_DATA = 3;
export const NFTA_IMMEDIATE_DATA = 2;
export const NFGENMSG_LEN = 4;
