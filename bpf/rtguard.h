/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * rtguard.h: the ONE definition of every record the kernel program sends to user space, and of
 * the knobs user space sets before load. Shared by bpf/rtguard.bpf.c (after vmlinux.h) and by
 * host C (the layout test), and mirrored field by field in
 * src/rtguard/agent/sensors/bpf/abi.py; tests/agent/sensors/bpf/test_bpf_abi_layout.py proves
 * the mirror. Any layout change bumps bpf/ABI_VERSION (rules in bpf/README.md).
 *
 * Wire format of one ring-buffer record: a struct below (fixed part, 8-byte aligned) and, for
 * exec only, a variable tail `data[]` of filename_len + cgroup_len + args_len bytes.
 * No pointers, no bitfields, explicit padding: the layout is the same on the BPF target and on
 * x86-64 hosts.
 */
#ifndef RTGUARD_H
#define RTGUARD_H

#ifndef __VMLINUX_H__
#include <linux/types.h> /* host build: __u8 ... __u64 without vmlinux.h */
#endif

/* Keep equal to bpf/ABI_VERSION (a test checks). */
#define RTG_ABI_MAJOR 1
#define RTG_ABI_MINOR 0
#define RTG_ABI_PATCH 0
#define RTG_ABI_VERSION_CODE ((RTG_ABI_MAJOR << 16) | (RTG_ABI_MINOR << 8) | RTG_ABI_PATCH)

/* Sizes of the exec tail. Each is a hard cap compiled into the program. */
#define RTG_COMM_LEN 16
#define RTG_FILENAME_MAX 256     /* bytes of bprm->filename, NUL included */
#define RTG_CGROUP_MAX_DEPTH 6   /* cgroup path components kept, counted from the leaf */
#define RTG_CGROUP_NAME_MAX 128  /* bytes per component, NUL included */
#define RTG_ARGS_MAX 4096        /* bytes of the raw argv area; power of two */
#define RTG_EXEC_DATA_MAX (RTG_FILENAME_MAX + RTG_CGROUP_MAX_DEPTH * RTG_CGROUP_NAME_MAX + RTG_ARGS_MAX)

/* Record kinds: the op byte that starts every record. 0 is never valid. */
enum rtg_op {
	RTG_OP_EXEC = 1,
	RTG_OP_FORK = 2,
	RTG_OP_EXIT = 3,
};

/* rtg_hdr.flags bits. */
enum rtg_flag {
	RTG_F_ARGS_TRUNC = 1 << 0,     /* the argv area was longer than max_args_bytes */
	RTG_F_ARGS_FAULT = 1 << 1,     /* reading the argv area from user memory failed */
	RTG_F_FILENAME_TRUNC = 1 << 2, /* filename filled RTG_FILENAME_MAX: may be cut */
	RTG_F_CGROUP_TRUNC = 1 << 3,   /* a cgroup name filled RTG_CGROUP_NAME_MAX or could not be read */
	RTG_F_CGROUP_DEEP = 1 << 4,    /* the cgroup has more than RTG_CGROUP_MAX_DEPTH levels: top ones cut */
	RTG_F_CGROUP_DFL = 1 << 5,     /* path is from the default (v2) hierarchy, not v1 memory */
	RTG_F_NO_EXE = 1 << 6,         /* the task had no mm->exe_file: exe_* fields are 0 */
};

/* Indexes of the per-CPU counter array map `rtg_counters` (u64 per CPU each). */
enum rtg_counter {
	RTG_CNT_LOST_RINGBUF_FULL = 0, /* a record was dropped: the ring buffer had no room */
	RTG_CNT_EMITTED = 1,           /* records written to the ring buffer */
	RTG_CNT_WAKEUPS = 2,           /* records submitted with a forced consumer wakeup */
	RTG_CNT_MAX = 8,
};

/* Header of every record. */
struct rtg_hdr {
	__u8 op;        /* field 0: record kind (enum rtg_op) */
	__u8 abi_major; /* field 1: RTG_ABI_MAJOR of the program that wrote the record */
	__u16 flags;    /* field 2: RTG_F_* bits */
	__u32 size;     /* field 3: bytes of the whole record, header and tail included */
	__u64 ktime;    /* field 4: CLOCK_MONOTONIC ns, bpf_ktime_get_ns() */
};

/* A successful execve/execveat (tp_btf/sched_process_exec); the task is its new image. */
struct rtg_exec {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_EXEC */
	__u32 pid;                      /* field 1: tgid (host pid namespace) */
	__u32 tid;                      /* field 2: thread that called exec (old_pid; == pid unless a non-leader exec'd) */
	__u32 ppid;                     /* field 3: real_parent->tgid */
	__u32 ns_pid;                   /* field 4: pid in the task's innermost pid namespace */
	__u32 uid;                      /* field 5: real uid (after exec) */
	__u32 euid;                     /* field 6: effective uid (after exec: set-uid applied) */
	__u32 gid;                      /* field 7: real gid */
	__u32 egid;                     /* field 8: effective gid */
	__u64 start_boottime;           /* field 9: task->start_boottime, CLOCK_BOOTTIME ns */
	__u64 parent_start_boottime;    /* field 10: real_parent->group_leader->start_boottime */
	__u64 cgroup_id;                /* field 11: bpf_get_current_cgroup_id(): cgroup v2 id (inode) */
	__u32 mntns;                    /* field 12: mount namespace inum */
	__u32 pidns;                    /* field 13: innermost pid namespace inum */
	__u64 exe_ino;                  /* field 14: mm->exe_file->f_inode->i_ino */
	__s64 exe_mtime_ns;             /* field 15: inode mtime, ns since the epoch */
	__u32 exe_dev;                  /* field 16: i_sb->s_dev, kernel encoding (major << 20 | minor) */
	__u32 args_size;                /* field 17: full size of the argv area (arg_end - arg_start) */
	__u16 filename_len;             /* field 18: tail bytes of the filename, its NUL included */
	__u16 cgroup_len;               /* field 19: tail bytes of the cgroup components */
	__u16 args_len;                 /* field 20: tail bytes of argv copied (<= max_args_bytes) */
	__u8 cgroup_depth;              /* field 21: number of cgroup components in the tail */
	__u8 _pad0;                     /* field 22: zero */
	char comm[RTG_COMM_LEN];        /* field 23: task->comm after exec, NUL-terminated */
	/*
	 * Tail, in this order, right after the fixed part (offset sizeof(struct rtg_exec)):
	 *   filename: bprm->filename, NUL-terminated (filename_len bytes);
	 *   cgroup:   cgroup_depth NUL-terminated kernfs names, LEAF FIRST (cgroup_len bytes);
	 *             depth 0 is the root cgroup "/";
	 *   args:     the raw argv area, args separated by NUL, cut at args_len bytes.
	 */
};

/* A new process (tp_btf/sched_process_fork); thread creation (CLONE_THREAD) is not reported. */
struct rtg_fork {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_FORK */
	__u32 parent_pid;               /* field 1: child->real_parent->tgid */
	__u32 child_pid;                /* field 2: child tgid (== its pid) */
	__u64 parent_start_boottime;    /* field 3: real_parent->group_leader->start_boottime */
	__u64 child_start_boottime;     /* field 4: child->start_boottime */
};

/* The last thread of a process exited (tp_btf/sched_process_exit with signal->live == 0). */
struct rtg_exit {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_EXIT */
	__u32 pid;                      /* field 1: tgid */
	__u32 exit_code;                /* field 2: raw wait status (task->exit_code) */
	__u64 start_boottime;           /* field 3: group_leader->start_boottime */
};

/* Knobs, one `const volatile` global in .rodata, set by user space between open and load. */
struct rtg_config {
	__u32 ignore_tgid;              /* field 0: exec and exit of this process are not reported (0: none) */
	__u32 max_args_bytes;           /* field 1: argv bytes copied per exec, capped at RTG_ARGS_MAX */
	__u64 wakeup_bytes;             /* field 2: force a consumer wakeup when the ring holds >= this (0: never) */
};

#endif /* RTGUARD_H */
