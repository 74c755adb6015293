/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only */
/*
 * rtguard.h: the ONE definition of every record the kernel program sends to user space, and of
 * the knobs user space sets before load. Shared by bpf/rtguard.bpf.c (after vmlinux.h) and by
 * host C (the layout test), and mirrored field by field in
 * src/rtguard/agent/sensors/bpf/abi.py; tests/agent/sensors/bpf/test_bpf_abi_layout.py proves
 * the mirror. Any layout change bumps bpf/ABI_VERSION (rules in bpf/README.md).
 *
 * Wire format of one ring-buffer record: a struct below (fixed part, 8-byte aligned) and, for
 * some kinds, a variable tail of strings whose lengths are fields of the fixed part.
 * No pointers, no bitfields, explicit padding: the layout is the same on the BPF target and on
 * x86-64 hosts.
 */
#ifndef RTGUARD_H
#define RTGUARD_H

#ifndef __VMLINUX_H__
#include <linux/types.h> /* host build: __u8 ... __u64 without vmlinux.h */
#endif

/* Keep equal to bpf/ABI_VERSION (a test checks). */
#define RTG_ABI_MAJOR 3
#define RTG_ABI_MINOR 3
#define RTG_ABI_PATCH 2
#define RTG_ABI_VERSION_CODE ((RTG_ABI_MAJOR << 16) | (RTG_ABI_MINOR << 8) | RTG_ABI_PATCH)

/* Sizes of the exec tail. Each is a hard cap compiled into the program. */
#define RTG_COMM_LEN 16
#define RTG_FILENAME_MAX 256     /* bytes of bprm->filename, NUL included */
#define RTG_CGROUP_MAX_DEPTH 6   /* cgroup path components kept, counted from the leaf */
#define RTG_CGROUP_NAME_MAX 128  /* bytes per component, NUL included */
#define RTG_ARGS_MAX 4096        /* bytes of the raw argv area; power of two */
#define RTG_PATH_MAX 1024        /* bytes of a path built from dentries, NUL included; power of two */
#define RTG_PATH_DEPTH 32        /* dentries walked per path (mount crossings included) */
#define RTG_ENV_MAX 4096         /* bytes of the raw environment area; power of two */
#define RTG_EXEC_DATA_MAX (RTG_FILENAME_MAX + RTG_CGROUP_MAX_DEPTH * RTG_CGROUP_NAME_MAX + RTG_ARGS_MAX + \
			   2 * RTG_PATH_MAX + RTG_ENV_MAX)
#define RTG_UNIX_PATH_MAX 108    /* sizeof(sockaddr_un.sun_path) */
#define RTG_DNS_MAX 512          /* bytes of a DNS message copied (one UDP datagram's classic limit) */
#define RTG_STR_MAX 256          /* bytes of a short user string (memfd name, fstype, ...) */
#define RTG_PREFIX_SLOTS 24      /* file path prefixes the kernel filters on */
#define RTG_PREFIX_LEN 64        /* bytes per prefix, NUL included */

/* Record kinds: the op byte that starts every record. 0 is never valid. */
enum rtg_op {
	RTG_OP_EXEC = 1,
	RTG_OP_FORK = 2,
	RTG_OP_EXIT = 3,
	RTG_OP_NET = 4,   /* struct rtg_net: connect/accept/bind/listen on an inet socket */
	RTG_OP_UNIX = 5,  /* struct rtg_unix: connect on a unix socket */
	RTG_OP_DNS = 6,   /* struct rtg_dns + message bytes: traffic to or from port 53 */
	RTG_OP_FILE = 7,  /* struct rtg_file + paths: a file change under a watched prefix */
	RTG_OP_PROC = 8,  /* struct rtg_proc_op + string: ptrace, vm write, memfd, uffd, module, creds */
	RTG_OP_MOUNT = 9, /* struct rtg_mount + strings: a mount attempt */
	RTG_OP_LIB = 10,  /* struct rtg_lib + path: a file written in the container mapped executable */
};

/* rtg_net.kind */
enum rtg_net_kind {
	RTG_NET_CONNECT = 1,
	RTG_NET_ACCEPT = 2,
	RTG_NET_BIND = 3,
	RTG_NET_LISTEN = 4,
	RTG_NET_DUP_STDIO = 5, /* (ABI 3.3) dup/dup2/dup3 put an inet socket on fd 0, 1 or 2: ret = that fd */
};

/* rtg_file.kind */
enum rtg_file_kind {
	RTG_FILE_WRITE = 1,   /* open for write, create or truncate (path = the opened file) */
	RTG_FILE_RENAME = 2,  /* path = old, path2 = new */
	RTG_FILE_LINK = 3,    /* path = existing, path2 = new link */
	RTG_FILE_SYMLINK = 4, /* path = link target as given, path2 = new link */
	RTG_FILE_UNLINK = 5,
	RTG_FILE_CHMOD = 6,   /* only when the new mode sets an exec bit */
};

/* rtg_proc_op.kind */
enum rtg_proc_kind {
	RTG_PROC_PTRACE = 1,      /* arg0 = request, target_pid */
	RTG_PROC_VM_WRITE = 2,    /* process_vm_writev: target_pid, arg0 = local iov count */
	RTG_PROC_MEMFD = 3,       /* memfd_create: str = name, arg0 = flags */
	RTG_PROC_USERFAULTFD = 4, /* the syscall (arg0 = flags) or an open of /dev/userfaultfd (arg1 = 1) */
	RTG_PROC_MODULE = 5,      /* init_module/finit_module: arg0 = fd (finit) or -1, arg1 = flags (finit) or
				   * image length (init); str = params NUL, then (finit) the file's path NUL */
	RTG_PROC_CRED = 6,        /* setuid-family syscall: arg0 = syscall nr; old/new ids */
};

/* rtg_mount.kind: which syscall. The new mount API's source and fstype come from the fs context
 * (fsopen, fsconfig "source") or the tree (open_tree) the fd names, tracked per process. */
enum rtg_mount_kind {
	RTG_MOUNT_MOUNT = 0,      /* mount(2): source, target, fstype, flags as given */
	RTG_MOUNT_FSOPEN = 1,     /* fsopen: fstype; flags = fsopen flags */
	RTG_MOUNT_FSMOUNT = 2,    /* fsmount: source, fstype of the context; flags = attr flags */
	RTG_MOUNT_MOVE = 3,       /* move_mount: source, fstype of the mount fd; target; flags */
	RTG_MOUNT_OPEN_TREE = 4,  /* open_tree with OPEN_TREE_CLONE: source = the tree's path; flags */
	RTG_MOUNT_FSCONFIG = 5,   /* fsconfig "source" that failed: source; flags = cmd */
	RTG_MOUNT_FSPICK = 6,     /* fspick: source = the picked path, fstype of its superblock; flags (ABI 3.2) */
	RTG_MOUNT_SETATTR = 7,    /* mount_setattr: target = the path; source, fstype of a tracked mount fd;
				   * flags = attr_set | attr_clr << 32 (struct mount_attr, low 32 bits each) */
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
	RTG_F_EXE_MEMFD = 1 << 7,      /* exec: the executable is a memfd (dentry name "memfd:...") */
	RTG_F_EXE_UPPER = 1 << 8,      /* exec: the executable lives in an overlay's upper layer */
	RTG_F_ENV_TRUNC = 1 << 9,      /* exec: the environment was longer than max_env_bytes */
	RTG_F_PATH_TRUNC = 1 << 10,    /* a dentry path was cut (too deep or too long) */
	RTG_F_DATA_TRUNC = 1 << 11,    /* dns: the message was longer than RTG_DNS_MAX */
};

/* rtg_exec.stdio bits: fd 0/1/2 is a socket at exec. */
enum rtg_stdio {
	RTG_STDIN_SOCK = 1 << 0,
	RTG_STDOUT_SOCK = 1 << 1,
	RTG_STDERR_SOCK = 1 << 2,
};

/*
 * rtg_exec.stdio_kinds: what fd 0/1/2 is at exec, 4 bits each (fd N in bits 4N..4N+3). Tells a
 * TCP connection from a socketpair and a terminal from a pipe: a shell session on a network
 * connection vs. a script piped into `sh`. 0 (unknown) is what a 3.0 object wrote.
 */
enum rtg_stdio_kind {
	RTG_STDIO_UNKNOWN = 0, /* closed, or not read */
	RTG_STDIO_FILE = 1,    /* a regular file (or a directory) */
	RTG_STDIO_TTY = 2,     /* a terminal: tty, console or pseudo-terminal (majors 4, 5, 136-143) */
	RTG_STDIO_CHAR = 3,    /* another character device (/dev/null, ...) */
	RTG_STDIO_PIPE = 4,    /* a pipe or FIFO */
	RTG_STDIO_INET = 5,    /* an AF_INET or AF_INET6 socket */
	RTG_STDIO_UNIX = 6,    /* an AF_UNIX socket (socketpair included) */
	RTG_STDIO_SOCKET = 7,  /* a socket of another family (netlink, vsock, ...) */
	RTG_STDIO_OTHER = 8,   /* anything else (block device, anonymous inode, ...) */
};

/* Indexes of the per-CPU counter array map `rtg_counters` (u64 per CPU each). */
enum rtg_counter {
	RTG_CNT_LOST_RINGBUF_FULL = 0, /* a record was dropped: the ring buffer had no room */
	RTG_CNT_EMITTED = 1,           /* records written to the ring buffer */
	RTG_CNT_WAKEUPS = 2,           /* records submitted with a forced consumer wakeup (<= 1/CPU/ms) */
	RTG_CNT_LOST_PENDING_FULL = 3, /* a syscall's enter could not be remembered for its exit */
	RTG_CNT_FILTERED = 4,          /* syscalls seen but filtered out in the kernel (not lost) */
	RTG_CNT_COALESCED = 5,         /* write-opens of a file the same process reported < 1 s ago (not lost) */
	RTG_CNT_LOST_RINGBUF_BUSY = 6, /* (ABI 3.3) a record was dropped: the ring had room but refused it twice */
	RTG_CNT_RETRIED = 7,           /* (ABI 3.3) the ring had room but refused a record once; the retry took it */
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
	__u8 stdio;                     /* field 22: RTG_STD*_SOCK bits */
	char comm[RTG_COMM_LEN];        /* field 23: task->comm after exec, NUL-terminated */
	__u16 cwd_len;                  /* field 24: tail bytes of the working directory, NUL included */
	__u16 exe_len;                  /* field 25: tail bytes of the executable's path, NUL included */
	__u16 env_len;                  /* field 26: tail bytes of the environment copied */
	__u16 stdio_kinds;              /* field 27: enum rtg_stdio_kind of fds 0..2, 4 bits each (ABI 3.1) */
	__u32 env_size;                 /* field 28: full size of the environment area */
	__u32 _pad2;                    /* field 29: zero */
	/*
	 * Tail, in this order, right after the fixed part (offset sizeof(struct rtg_exec)):
	 *   filename: bprm->filename, NUL-terminated (filename_len bytes);
	 *   cgroup:   cgroup_depth NUL-terminated kernfs names, LEAF FIRST (cgroup_len bytes);
	 *             depth 0 is the root cgroup "/";
	 *   args:     the raw argv area, args separated by NUL, cut at args_len bytes;
	 *   cwd:      fs->pwd as a path from the task's root, NUL-terminated (cwd_len bytes);
	 *   exe:      mm->exe_file as a path from the task's root (exe_len bytes);
	 *   env:      the raw environment area (KEY=value, NUL-separated), cut at env_len bytes.
	 */
};

/* The acting task of every non-lifecycle record. */
struct rtg_task {
	__u32 pid;                      /* field 0: tgid */
	__u32 tid;                      /* field 1: thread id */
	__u64 start_boottime;           /* field 2: group_leader->start_boottime (pid reuse guard) */
};

/* connect (after it returned), accept (the new socket), bind, listen on AF_INET/AF_INET6. */
struct rtg_net {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_NET */
	struct rtg_task task;           /* field 1: acting task */
	__s32 ret;                      /* field 2: syscall return value (connect: -EINPROGRESS is normal) */
	__u16 family;                   /* field 3: AF_INET (2) or AF_INET6 (10) */
	__u8 kind;                      /* field 4: enum rtg_net_kind */
	__u8 protocol;                  /* field 5: IPPROTO_TCP (6), IPPROTO_UDP (17), ... (sk_protocol) */
	__u16 sock_type;                /* field 6: SOCK_STREAM (1), SOCK_DGRAM (2), ... */
	__u16 lport;                    /* field 7: local port, host order */
	__u16 rport;                    /* field 8: remote port, host order (0 for bind/listen) */
	__u16 _pad0;                    /* field 9: zero */
	__u8 laddr[16];                 /* field 10: local address (IPv4 in the first 4 bytes) */
	__u8 raddr[16];                 /* field 11: remote address */
};

/* connect on an AF_UNIX socket (after it returned). */
struct rtg_unix {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_UNIX */
	struct rtg_task task;           /* field 1: acting task */
	__s32 ret;                      /* field 2: syscall return value */
	__u16 sock_type;                /* field 3: SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
	__u16 path_len;                 /* field 4: bytes of sun_path given (abstract names start with NUL) */
	char path[RTG_UNIX_PATH_MAX];   /* field 5: sun_path as given */
	__u32 _pad0;                    /* field 6: zero */
};

/* One DNS message sent to or received from port 53; the message follows (data_len bytes). */
struct rtg_dns {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_DNS */
	struct rtg_task task;           /* field 1: acting task */
	__u16 family;                   /* field 2: AF_INET or AF_INET6 */
	__u8 direction;                 /* field 3: 0 sent (query), 1 received (answer) */
	__u8 protocol;                  /* field 4: IPPROTO_UDP or IPPROTO_TCP (TCP: 2-byte length prefix kept) */
	__u16 lport;                    /* field 5: local port */
	__u16 rport;                    /* field 6: the server's port (53) */
	__u8 raddr[16];                 /* field 7: the server's address */
	__u16 data_len;                 /* field 8: bytes of the message in the tail */
	__u16 _pad0;                    /* field 9: zero */
	__u32 msg_size;                 /* field 10: full size the syscall sent or received */
};

/* A file change; tail: path (path_len bytes, NUL-terminated), then path2. */
struct rtg_file {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_FILE */
	struct rtg_task task;           /* field 1: acting task */
	__s32 ret;                      /* field 2: syscall return value */
	__u8 kind;                      /* field 3: enum rtg_file_kind */
	__u8 _pad0;                     /* field 4: zero */
	__u16 path_len;                 /* field 5: tail bytes of path */
	__u32 flags;                    /* field 6: open flags (write), rename/unlink flags */
	__u32 mode;                     /* field 7: create or chmod mode */
	__u16 path2_len;                /* field 8: tail bytes of path2 (0 when none) */
	__u16 _pad1;                    /* field 9: zero */
	__u32 _pad2;                    /* field 10: zero */
};

/* A process or privilege operation; tail: str (str_len bytes). */
struct rtg_proc_op {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_PROC */
	struct rtg_task task;           /* field 1: acting task */
	__s32 ret;                      /* field 2: syscall return value */
	__u8 kind;                      /* field 3: enum rtg_proc_kind */
	__u8 _pad0;                     /* field 4: zero */
	__u16 str_len;                  /* field 5: tail bytes */
	__s64 arg0;                     /* field 6: see enum rtg_proc_kind */
	__s64 arg1;                     /* field 7: see enum rtg_proc_kind */
	__u32 target_pid;               /* field 8: ptrace / process_vm_writev target (as given) */
	__u32 old_uid;                  /* field 9: creds before (cred) */
	__u32 old_euid;                 /* field 10 */
	__u32 new_uid;                  /* field 11: creds after the syscall returned */
	__u32 new_euid;                 /* field 12 */
	__u32 new_gid;                  /* field 13 */
	__u32 new_egid;                 /* field 14 */
	__u32 _pad1;                    /* field 15: zero */
};

/* A mount attempt; tail: source, target, fstype (each NUL-terminated). */
struct rtg_mount {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_MOUNT */
	struct rtg_task task;           /* field 1: acting task */
	__s32 ret;                      /* field 2: syscall return value (failures are reported too) */
	__u16 source_len;               /* field 3 */
	__u16 target_len;               /* field 4 */
	__u64 flags;                    /* field 5: MS_* flags */
	__u16 fstype_len;               /* field 6 */
	__u16 kind;                     /* field 7: enum rtg_mount_kind (0: mount(2)) */
	__u32 _pad1;                    /* field 8: zero */
};

/*
 * A library load: mmap with PROT_EXEC of a file whose overlay inode has an upper dentry (created
 * or copied up in the container's writable layer after it started). Sent once per (cgroup, dev,
 * ino, mtime, ctime): a library mapped again is not reported, a rewritten one is.
 * Tail: path (path_len bytes, NUL-terminated), from the task's root.
 */
struct rtg_lib {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_LIB */
	struct rtg_task task;           /* field 1: acting task */
	__u64 cgroup_id;                /* field 2: bpf_get_current_cgroup_id() */
	__u64 ino;                      /* field 3: the file's i_ino (overlay inode) */
	__s64 mtime_ns;                 /* field 4: inode mtime, ns since the epoch */
	__u32 dev;                      /* field 5: i_sb->s_dev, kernel encoding (major << 20 | minor) */
	__u32 prot;                     /* field 6: mmap prot (PROT_EXEC set) */
	__u32 mmap_flags;               /* field 7: mmap flags (MAP_FIXED etc.) */
	__u16 path_len;                 /* field 8: tail bytes of the path */
	__u16 _pad0;                    /* field 9: zero */
};

/* A new process (tp_btf/sched_process_fork); thread creation (CLONE_THREAD) is not reported. */
struct rtg_fork {
	struct rtg_hdr hdr;             /* field 0: header, op = RTG_OP_FORK */
	__u32 parent_pid;               /* field 1: child->real_parent->tgid */
	__u32 child_pid;                /* field 2: child tgid (== its pid) */
	__u64 parent_start_boottime;    /* field 3: real_parent->group_leader->start_boottime */
	__u64 child_start_boottime;     /* field 4: child->start_boottime */
	__u32 child_ns_pid;             /* field 5: child's pid in its innermost pid namespace */
	__u32 _pad0;                    /* field 6: zero */
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
	__u32 max_env_bytes;            /* field 3: environment bytes copied per exec, capped at RTG_ENV_MAX */
	__u32 prefix_count;             /* field 4: file path prefixes in use (0: every path) */
	char prefix_len[RTG_PREFIX_SLOTS]; /* field 5: strlen of each prefix (as unsigned bytes) */
	char prefixes[RTG_PREFIX_SLOTS * RTG_PREFIX_LEN]; /* field 6: NUL-terminated prefixes, RTG_PREFIX_LEN apart */
};

#endif /* RTGUARD_H */
