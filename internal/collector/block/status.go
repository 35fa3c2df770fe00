package block

import "strconv"

// statusErrno names the errno the kernel's blk_status_to_errno gives for a
// blk_status_t (block/blk-core.c, blk_errors). The values are C defines in
// include/linux/blk_types.h, absent from BTF; new ones are appended, and
// BLK_STS_INVAL was 19 from Linux 6.11 until it became 18.
var statusErrno = map[uint16]string{
	1:  "EOPNOTSUPP",   // BLK_STS_NOTSUPP
	2:  "ETIMEDOUT",    // BLK_STS_TIMEOUT
	3:  "ENOSPC",       // BLK_STS_NOSPC
	4:  "ENOLINK",      // BLK_STS_TRANSPORT
	5:  "EREMOTEIO",    // BLK_STS_TARGET
	6:  "EBADE",        // BLK_STS_NEXUS, later BLK_STS_RESV_CONFLICT
	7:  "ENODATA",      // BLK_STS_MEDIUM
	8:  "EILSEQ",       // BLK_STS_PROTECTION
	9:  "ENOMEM",       // BLK_STS_RESOURCE
	10: "EIO",          // BLK_STS_IOERR
	11: "EREMCHG",      // BLK_STS_DM_REQUEUE
	12: "EAGAIN",       // BLK_STS_AGAIN
	13: "EBUSY",        // BLK_STS_DEV_RESOURCE
	14: "ETOOMANYREFS", // BLK_STS_ZONE_RESOURCE, later BLK_STS_ZONE_OPEN_RESOURCE
	15: "EOVERFLOW",    // BLK_STS_ZONE_ACTIVE_RESOURCE
	16: "ENODEV",       // BLK_STS_OFFLINE
	17: "ETIME",        // BLK_STS_DURATION_LIMIT
	18: "EINVAL",       // BLK_STS_INVAL
	19: "EINVAL",       // BLK_STS_INVAL (6.11 to 6.18)
}

// statusName returns the errno label for a completion status: the errno
// name, or "blk_status_N" for a status this table does not know (the
// kernel itself reports EIO for those).
func statusName(status uint16) string {
	if n, ok := statusErrno[status]; ok {
		return n
	}
	return "blk_status_" + strconv.Itoa(int(status))
}
