// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/*
 * rtguard kernel sensor: process lifecycle (exec with argv, cwd, exe path, environment, stdio
 * sockets, memfd and overlay-upper flags; fork; exit) on tp_btf sched hooks, and the runtime
 * events GuardDuty's findings need on syscalls/sys_{enter,exit}_* tracepoints: network
 * (connect, accept, bind, listen, unix connect), DNS messages, file changes under watched
 * prefixes, ptrace, process_vm_writev, memfd_create, userfaultfd, module loads, credential
 * changes and mounts. Where the result or a returned fd is needed, enter and exit are paired
 * through a per-thread LRU hash (rtg_pending). Filtering happens here (open flags, path
 * prefixes, port 53, exec bits) so only interesting records cross.
 *
 * CO-RE; no fentry, LSM or kprobes: they do not load on our kernels (see docs platform notes).
 * Records are defined in rtguard.h.
 * Records go to one ring buffer with BPF_RB_NO_WAKEUP: user space drains it on a timer, which
 * keeps the exec-storm overhead near 1% instead of ~11% with a wakeup per record. A wakeup is
 * forced only when the ring holds more than rtg_cfg.wakeup_bytes, so a burst cannot overflow
 * it while the consumer sleeps, and then at most once per CPU per millisecond. Every record that
 * does not fit is counted in rtg_counters.
 *
 * What this program must NOT do: block, loop without a bound, or send records user space did
 * not ask for (threads, the agent's own exec and exit).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "rtguard.h"

char LICENSE[] SEC("license") = "GPL";

/* Kernel 6.4+ kfunc: view a pointer as a BTF type for fault-safe direct loads (no helper call). */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* Set by user space between open and load (rodata; the verifier sees them as constants). */
const volatile struct rtg_config rtg_cfg = {
	.ignore_tgid = 0,
	.max_args_bytes = RTG_ARGS_MAX,
	.wakeup_bytes = 0,
	.max_env_bytes = RTG_ENV_MAX,
	.prefix_count = 0,
};
/* Read by user space before load to refuse an object built for another ABI. */
const volatile __u32 rtg_abi_version = RTG_ABI_VERSION_CODE;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 2 << 20); /* resized by user space before load */
} rtg_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RTG_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} rtg_counters SEC(".maps");

/* Per CPU: when this CPU last forced a consumer wakeup (bpf_ktime_get_ns). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rtg_last_wakeup SEC(".maps");

#define RTG_WAKEUP_GAP_NS 1000000ULL /* at most one forced wakeup per CPU per millisecond */

/* An exec record is built here (too big for the 512-byte stack), then copied to the ring
 * with its real size, so a short command line costs a short record. */
struct rtg_exec_buf {
	struct rtg_exec e;
	char data[RTG_EXEC_DATA_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rtg_exec_buf);
} rtg_scratch SEC(".maps");

/* A path is built right to left in here (see walk_path); the slack after RTG_PATH_MAX lets a
 * relative user string be appended and keeps every bounded copy inside the buffer. */
struct rtg_pathbuf {
	char buf[2 * RTG_PATH_MAX + 2 * RTG_STR_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct rtg_pathbuf);
} rtg_paths SEC(".maps");

/* Variable-size records other than exec are assembled here: the fixed part at the start, its
 * tail right after it (REC_TAIL(b, struct rtg_x)). */
#define REC_BUF_SIZE (128 + 2 * (RTG_PATH_MAX + 2 * RTG_STR_MAX))
struct rtg_rec_buf {
	char raw[REC_BUF_SIZE];
};
#define REC_TAIL(b, type) (&(b)->raw[sizeof(type)])

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rtg_rec_buf);
} rtg_rec SEC(".maps");

/* What a sys_enter_* remembers for its sys_exit_*, keyed by thread id. */
enum rtg_pend_kind {
	P_CONNECT = 1, P_ACCEPT, P_BIND, P_OPEN, P_RENAME, P_LINK, P_SYMLINK, P_UNLINK, P_CHMOD,
	P_FCHMOD, P_CRED, P_MOUNT, P_RECV, P_RECVMSG, P_RECVMMSG, P_FSOPEN, P_FSCONFIG, P_FSMOUNT,
	P_OPEN_TREE, P_MOVE_MOUNT, P_FSPICK, P_SETATTR,
};

struct rtg_pending {
	__u32 kind;
	__u32 aux;
	__u64 a[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct rtg_pending);
} rtg_pending SEC(".maps");

/* Sockets that sent to port 53, so that their answers are captured too (unconnected UDP). */
struct rtg_dns_peer {
	__u8 raddr[16];
	__u16 rport;
	__u16 family;
	__u8 protocol;
	__u8 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct rtg_dns_peer);
} rtg_dns_socks SEC(".maps");

/* Older kernels (< 6.15) name the parent pointer `parent`. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

/* Kernels < 6.11 keep mtime as a timespec64 (`__i_mtime` in 6.6-6.10, `i_mtime` before). */
struct inode___pre611 {
	struct timespec64 __i_mtime;
} __attribute__((preserve_access_index));

struct inode___pre66 {
	struct timespec64 i_mtime;
} __attribute__((preserve_access_index));

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&rtg_counters, &idx);

	if (v)
		*v += 1;
}

/*
 * NO_WAKEUP normally; a forced wakeup once the ring is filling up, at most one per CPU per
 * RTG_WAKEUP_GAP_NS. A forced wakeup queues the ring's irq_work (a self-interrupt, then a
 * wait-queue walk) in the context of the process that wrote the record: unlimited, a consumer
 * that is behind (stopped, starved, slow) made every record of the workload pay that, which
 * is when the workload can least afford it. One wakeup per millisecond is plenty for a
 * consumer that is alive, and no number of them helps one that is not.
 */
static __always_inline __u64 submit_flags(void)
{
	__u64 limit = rtg_cfg.wakeup_bytes, now, *last;
	__u32 zero = 0;

	if (!limit || bpf_ringbuf_query(&rtg_events, BPF_RB_AVAIL_DATA) < limit)
		return BPF_RB_NO_WAKEUP;
	last = bpf_map_lookup_elem(&rtg_last_wakeup, &zero);
	if (last) {
		now = bpf_ktime_get_ns();
		if (now - *last < RTG_WAKEUP_GAP_NS)
			return BPF_RB_NO_WAKEUP;
		*last = now;
	}
	count(RTG_CNT_WAKEUPS);
	return BPF_RB_FORCE_WAKEUP;
}

static __always_inline void fill_hdr(struct rtg_hdr *h, __u8 op, __u32 size)
{
	h->op = op;
	h->abi_major = RTG_ABI_MAJOR;
	h->flags = 0;
	h->size = size;
	h->ktime = bpf_ktime_get_ns();
}

/*
 * Field reads below are direct dereferences of BTF-typed pointers (tp_btf gives them): the
 * verifier turns each into a fault-safe load (a NULL or bad pointer reads as 0), about 7x
 * cheaper here than a bpf_probe_read_kernel() call per field. CO-RE still relocates every
 * offset. Helpers remain only where the verifier needs them (variable array index, strings).
 */
static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return kn->__parent;
	return ((struct kernfs_node___pre615 *)kn)->parent;
}

static __always_inline __s64 inode_ctime_ns(struct inode *ino)
{
	if (bpf_core_field_exists(ino->i_ctime_sec))
		return ino->i_ctime_sec * 1000000000LL + ino->i_ctime_nsec;
	return 0; /* older layouts: mtime alone tells a rewritten file apart */
}

static __always_inline __s64 inode_mtime_ns(struct inode *ino)
{
	if (bpf_core_field_exists(ino->i_mtime_sec))
		return ino->i_mtime_sec * 1000000000LL + ino->i_mtime_nsec;
	if (bpf_core_field_exists(((struct inode___pre611 *)ino)->__i_mtime)) {
		struct inode___pre611 *o = (void *)ino;

		return o->__i_mtime.tv_sec * 1000000000LL + o->__i_mtime.tv_nsec;
	}
	struct inode___pre66 *o = (void *)ino;

	return o->i_mtime.tv_sec * 1000000000LL + o->i_mtime.tv_nsec;
}

/* The cgroup that names a container: v1 memory when that controller is on a v1 hierarchy
 * (hybrid hosts: the runtimes put /docker/<id>, /ecs/<task>/<id> there), else the default
 * (v2) hierarchy. */
static __always_inline struct kernfs_node *container_cgroup_kn(struct task_struct *t, __u16 *flags)
{
	struct css_set *cset = t->cgroups;

	if (bpf_core_enum_value_exists(enum cgroup_subsys_id, memory_cgrp_id)) {
		/* A relocated constant: the verifier sees a fixed index. */
		struct cgroup *cg = cset->subsys[bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id)]->cgroup;

		if (cg && cg->root->hierarchy_id != 0)
			return cg->kn;
	}
	*flags |= RTG_F_CGROUP_DFL;
	return cset->dfl_cgrp->kn;
}

static __always_inline __u32 task_ns_pid(struct task_struct *t, __u32 *pidns)
{
	struct pid *pid = t->thread_pid;
	unsigned int level = pid->level;
	struct upid up = {};

	/* numbers[] is a flexible array indexed by a runtime value: needs a helper read. */
	bpf_core_read(&up, sizeof(up), &pid->numbers[level]);
	*pidns = BPF_CORE_READ(up.ns, ns.inum);
	return up.nr;
}

/* Fixed limits of the tail regions; the verifier needs every offset bounded. */
#define CGROUP_END (RTG_FILENAME_MAX + RTG_CGROUP_MAX_DEPTH * RTG_CGROUP_NAME_MAX)
#define ARGS_END (CGROUP_END + RTG_ARGS_MAX)
#define CWD_END (ARGS_END + RTG_PATH_MAX)
#define EXE_END (CWD_END + RTG_PATH_MAX)

/* Clamp a variable and make the compiler use the clamped register afterwards (the verifier
 * tracks bounds per register; without the barrier clang may compare one copy and use another). */
#define BOUND(v, max)                                                                                \
	do {                                                                                         \
		if ((v) > (max))                                                                     \
			(v) = (max);                                                                 \
		asm volatile("" : "+r"(v));                                                          \
	} while (0)

#define S_IFMT_ 0170000
#define S_IFSOCK_ 0140000
#define S_IFCHR_ 0020000
#define S_IFIFO_ 0010000
#define S_IFREG_ 0100000
#define S_IFDIR_ 0040000
#define AF_UNIX_ 1
#define AF_INET_ 2
#define AF_INET6_ 10
#define OVERLAYFS_MAGIC_ 0x794c7630
#define PROC_MAGIC_ 0x9fa0
#define AT_FDCWD_ -100
#define O_WRITE_MASK_ (01 | 02 | 0100 | 01000) /* O_WRONLY | O_RDWR | O_CREAT | O_TRUNC */
#define DNS_PORT 53

static __always_inline struct rtg_pathbuf *pathbuf(__u32 slot)
{
	return bpf_map_lookup_elem(&rtg_paths, &slot);
}

/* State of one path walk; a bpf_loop callback takes one step (verified once, not per step). */
struct walk_ctx {
	__u64 d;      /* current dentry */
	__u64 mnt;    /* current struct mount */
	__u64 root_d; /* the task's root */
	__u64 root_m; /* the task's root vfsmount */
	__u32 slot;   /* rtg_paths slot being written */
	__u32 pos;    /* start of the path built so far */
	__u16 flags;
};

static long walk_step(__u64 idx, void *data)
{
	struct walk_ctx *w = data;
	struct rtg_pathbuf *pb = pathbuf(w->slot);
	struct dentry *d = (struct dentry *)w->d, *parent, *mnt_root;
	struct mount *mnt = (struct mount *)w->mnt;
	struct vfsmount *vm = &mnt->mnt;
	struct qstr q;
	__u32 len, pos = w->pos & (RTG_PATH_MAX - 1);

	if (!pb || !d || (w->d == w->root_d && (__u64)vm == w->root_m))
		return 1;
	mnt_root = BPF_CORE_READ(vm, mnt_root);
	if (d == mnt_root) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);

		if (!mp || mp == mnt)
			return 1; /* the top of this mount tree */
		w->d = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = (__u64)mp;
		return 0;
	}
	parent = BPF_CORE_READ(d, d_parent);
	q = BPF_CORE_READ(d, d_name);
	len = q.len;
	if (len > RTG_STR_MAX - 1) {
		len = RTG_STR_MAX - 1;
		w->flags |= RTG_F_PATH_TRUNC;
	}
	if (len + 1 > pos) {
		w->flags |= RTG_F_PATH_TRUNC;
		return 1;
	}
	pos = (pos - len - 1) & (RTG_PATH_MAX - 1);
	bpf_probe_read_kernel(&pb->buf[pos + 1], len & (RTG_STR_MAX - 1), q.name);
	pb->buf[pos] = '/';
	w->pos = pos;
	if (parent == d)
		return 1; /* a pseudo dentry (memfd, pipe): its own name is all there is */
	w->d = (__u64)parent;
	return 0;
}

/*
 * Path of (dentry, vfsmount) as seen from the task's root (root_d, root_m), built right to left
 * in rtg_paths[slot] so that it ends at buf[RTG_PATH_MAX - 1] (the NUL). Returns the offset where
 * it starts. Mount points are crossed upwards; a pseudo dentry (memfd, pipe) yields "/<name>".
 */
static __always_inline __u32 walk_path(struct dentry *d, struct vfsmount *vm, struct dentry *root_d,
				       struct vfsmount *root_m, __u32 slot, struct rtg_pathbuf *pb, __u16 *flags)
{
	struct walk_ctx w = {
		.d = (__u64)d,
		.mnt = (__u64)container_of(vm, struct mount, mnt),
		.root_d = (__u64)root_d,
		.root_m = (__u64)root_m,
		.slot = slot,
		.pos = RTG_PATH_MAX - 1,
	};
	long n;

	pb->buf[RTG_PATH_MAX - 1] = 0;
	n = bpf_loop(RTG_PATH_DEPTH, walk_step, &w, 0);
	if (n >= RTG_PATH_DEPTH)
		w.flags |= RTG_F_PATH_TRUNC;
	*flags |= w.flags;
	if (w.pos >= RTG_PATH_MAX - 1) {
		w.pos = RTG_PATH_MAX - 2;
		pb->buf[RTG_PATH_MAX - 2] = '/';
	}
	return w.pos & (RTG_PATH_MAX - 1);
}

static __always_inline int ignored(__u32 tgid)
{
	return tgid == rtg_cfg.ignore_tgid;
}

static __always_inline void fill_task(struct rtg_task *t)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid();

	t->pid = id >> 32;
	t->tid = (__u32)id;
	t->start_boottime = BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline struct file *fd_file(struct task_struct *t, __u64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/*
 * The current task's file at `fd`, typed for direct loads: the task is BTF-typed
 * (bpf_get_current_task_btf), so task->files->fdt and its fields are plain fault-safe loads; only
 * fdt->fd[fd] needs a helper (variable index), and the result is cast back to a BTF pointer. About
 * one helper call instead of five on the hot syscall paths (read/write). cur_fd_file_addr gives
 * the address as a plain number (0: no file), for identity checks (fd_cookie).
 */
static __always_inline __u64 cur_fd_file_addr(__u64 fd)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct fdtable *fdt = t->files->fdt;
	__u64 f = 0;

	if (fd >= fdt->max_fds)
		return 0; /* also a task without files: the loads read 0 */
	bpf_probe_read_kernel(&f, sizeof(f), (void *)((__u64)fdt->fd + fd * sizeof(f)));
	return f;
}

static __always_inline struct file *cur_fd_file(__u64 fd)
{
	__u64 f = cur_fd_file_addr(fd);

	return f ? bpf_rdonly_cast((void *)f, bpf_core_type_id_kernel(struct file)) : NULL;
}

/* The socket behind a file from cur_fd_file (BTF-typed: plain loads, no helper), or NULL. */
static __always_inline struct sock *file_sock(struct file *f)
{
	struct socket *s;

	if (!f || (f->f_inode->i_mode & S_IFMT_) != S_IFSOCK_)
		return NULL;
	s = bpf_rdonly_cast(f->private_data, bpf_core_type_id_kernel(struct socket));
	return s->sk;
}

static __always_inline int pend(__u32 kind, __u32 aux, __u64 a0, __u64 a1, __u64 a2, __u64 a3, __u64 a4)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct rtg_pending p = { .kind = kind, .aux = aux, .a = { a0, a1, a2, a3, a4 } };

	if (bpf_map_update_elem(&rtg_pending, &tid, &p, BPF_ANY)) {
		count(RTG_CNT_LOST_PENDING_FULL);
		return -1;
	}
	return 0;
}

/* Take (copy and delete) this thread's pending entry when it is of `kind`. */
static __always_inline int take(__u32 kind, struct rtg_pending *out)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct rtg_pending *p = bpf_map_lookup_elem(&rtg_pending, &tid);

	if (!p)
		return -1;
	if (p->kind != kind) {
		bpf_map_delete_elem(&rtg_pending, &tid);
		return -1;
	}
	*out = *p;
	bpf_map_delete_elem(&rtg_pending, &tid);
	return 0;
}

/*
 * Whether a record of `size` bytes cannot fit in the ring now. The ring can refuse a record it has
 * room for: since 6.15 its lock is a resilient spinlock, whose acquisition gives up (a deadlock
 * or a timeout, say while the holder's vCPU is descheduled) instead of spinning forever. Such a
 * refusal is retried once, and counted apart from a full ring (`ringbuf_busy`) if the retry
 * fails too, so that a loss with room to spare is not mistaken for a consumer that fell behind.
 */
static __always_inline int ring_full(__u64 size)
{
	/* The ring's own test: the record with its 8-byte header, rounded up to 8, must leave the
	 * producer less than the ring's size ahead of the consumer. A looser test misnames the
	 * refusals of a ring full to within the rounding as `ringbuf_busy`. */
	__u64 len = (size + 8 + 7) & ~7ULL;

	return bpf_ringbuf_query(&rtg_events, BPF_RB_AVAIL_DATA) + len >=
	       bpf_ringbuf_query(&rtg_events, BPF_RB_RING_SIZE);
}

static __always_inline void count_refused(__u64 size)
{
	count(ring_full(size) ? RTG_CNT_LOST_RINGBUF_FULL : RTG_CNT_LOST_RINGBUF_BUSY);
}

static __always_inline void emit(void *rec, __u64 size)
{
	if (!bpf_ringbuf_output(&rtg_events, rec, size, submit_flags())) {
		count(RTG_CNT_EMITTED);
		return;
	}
	if (!ring_full(size) && !bpf_ringbuf_output(&rtg_events, rec, size, submit_flags())) {
		count(RTG_CNT_RETRIED);
		count(RTG_CNT_EMITTED);
		return;
	}
	count_refused(size);
}

/* bpf_ringbuf_reserve with emit's one retry when the ring had room; counts a refusal. */
#define RESERVE(r)                                                                   \
	({                                                                           \
		(r) = bpf_ringbuf_reserve(&rtg_events, sizeof(*(r)), 0);             \
		if (!(r) && !ring_full(sizeof(*(r)))) {                              \
			(r) = bpf_ringbuf_reserve(&rtg_events, sizeof(*(r)), 0);     \
			if (r)                                                       \
				count(RTG_CNT_RETRIED);                              \
		}                                                                    \
		if (!(r))                                                            \
			count_refused(sizeof(*(r)));                                 \
		(r);                                                                 \
	})

/* What an open file is, as enum rtg_stdio_kind. */
static __always_inline __u16 stdio_kind(struct file *f)
{
	struct inode *ino = BPF_CORE_READ(f, f_inode);
	__u32 mode = BPF_CORE_READ(ino, i_mode) & S_IFMT_;
	__u32 major;
	struct socket *sock;
	__u16 family;

	switch (mode) {
	case S_IFREG_:
	case S_IFDIR_:
		return RTG_STDIO_FILE;
	case S_IFIFO_:
		return RTG_STDIO_PIPE;
	case S_IFCHR_:
		major = BPF_CORE_READ(ino, i_rdev) >> 20;
		if (major == 4 || major == 5 || (major >= 136 && major <= 143))
			return RTG_STDIO_TTY;
		return RTG_STDIO_CHAR;
	case S_IFSOCK_:
		sock = BPF_CORE_READ(f, private_data);
		family = BPF_CORE_READ(sock, sk, __sk_common.skc_family);
		if (family == AF_INET_ || family == AF_INET6_)
			return RTG_STDIO_INET;
		if (family == AF_UNIX_)
			return RTG_STDIO_UNIX;
		return RTG_STDIO_SOCKET;
	}
	return RTG_STDIO_OTHER;
}

/* Bits of fds 0..2 that are sockets; their kinds, 4 bits each, into *kinds. */
static __always_inline __u8 stdio_sockets(struct task_struct *t, __u16 *kinds)
{
	__u8 bits = 0;
	__u16 k, all = 0;
	int i;

#pragma unroll
	for (i = 0; i < 3; i++) {
		struct file *f = fd_file(t, i);

		if (!f)
			continue;
		k = stdio_kind(f);
		all |= k << (4 * i);
		if (k == RTG_STDIO_INET || k == RTG_STDIO_UNIX || k == RTG_STDIO_SOCKET)
			bits |= 1 << i;
	}
	*kinds = all;
	return bits;
}

/* The executable is in an overlay's upper layer: created or changed in the container. */
static __always_inline int exe_on_upper(struct inode *ino)
{
	struct dentry *upper = NULL;
	void *ovl;

	if (!bpf_core_type_exists(struct ovl_inode))
		return 0;
	if (BPF_CORE_READ(ino, i_sb, s_magic) != OVERLAYFS_MAGIC_)
		return 0;
	ovl = (void *)ino - bpf_core_field_offset(struct ovl_inode, vfs_inode);
	bpf_probe_read_kernel(&upper, sizeof(upper),
			      ovl + bpf_core_field_offset(struct ovl_inode, __upperdentry));
	return upper != NULL;
}

/* Copy the path in pb (from pos to its NUL at RTG_PATH_MAX - 1) to dst; returns bytes copied. */
static __always_inline __u32 copy_walked(char *dst, struct rtg_pathbuf *pb, __u32 pos)
{
	__u32 len;

	pos &= RTG_PATH_MAX - 1;
	len = RTG_PATH_MAX - pos;
	if (len > RTG_PATH_MAX)
		return 0;
	if (bpf_probe_read_kernel(dst, len, &pb->buf[pos]))
		return 0;
	return len;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(rtg_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 zero = 0, depth = 0, max_args, max_env, pos;
	__u64 off;
	struct rtg_exec_buf *b;
	struct rtg_pathbuf *pb;
	struct rtg_exec *e;
	struct kernfs_node *kn;
	struct mm_struct *mm;
	struct inode *ino;
	struct file *exe;
	struct task_struct *parent;
	struct fs_struct *fs;
	const struct cred *cred;
	unsigned long a_start, a_end, a_size;
	__u16 flags = 0, stdio_kinds = 0;
	__u64 size;
	long n;
	int i;

	if (tgid == rtg_cfg.ignore_tgid)
		return 0;
	b = bpf_map_lookup_elem(&rtg_scratch, &zero);
	pb = pathbuf(0);
	if (!b || !pb)
		return 0;
	e = &b->e;

	e->pid = tgid;
	e->tid = old_pid; /* field 2 */
	parent = p->real_parent;
	e->ppid = parent->tgid;
	e->parent_start_boottime = parent->group_leader->start_boottime;
	e->start_boottime = p->start_boottime;
	e->ns_pid = task_ns_pid(p, &e->pidns);
	cred = p->cred;
	e->uid = cred->uid.val;
	e->euid = cred->euid.val;
	e->gid = cred->gid.val;
	e->egid = cred->egid.val;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->mntns = p->nsproxy->mnt_ns->ns.inum;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->stdio = stdio_sockets(p, &stdio_kinds);
	e->stdio_kinds = stdio_kinds;
	e->_pad2 = 0;

	mm = p->mm;
	exe = mm->exe_file;
	ino = exe->f_inode;
	if (ino) {
		e->exe_ino = ino->i_ino;
		e->exe_dev = ino->i_sb->s_dev;
		e->exe_mtime_ns = inode_mtime_ns(ino);
		if (exe_on_upper(ino))
			flags |= RTG_F_EXE_UPPER;
	} else {
		e->exe_ino = 0;
		e->exe_dev = 0;
		e->exe_mtime_ns = 0;
		flags |= RTG_F_NO_EXE;
	}

	/* Tail 1: filename. */
	n = bpf_probe_read_kernel_str(b->data, RTG_FILENAME_MAX, bprm->filename);
	if (n < 0)
		n = 0;
	if (n >= RTG_FILENAME_MAX)
		flags |= RTG_F_FILENAME_TRUNC;
	e->filename_len = n;
	off = n;

	/* Tail 2: cgroup path components, leaf first; the root's own name is never sent. */
	kn = container_cgroup_kn(p, &flags);
#pragma unroll
	for (i = 0; i < RTG_CGROUP_MAX_DEPTH; i++) {
		struct kernfs_node *up;

		if (!kn)
			break;
		up = kn_parent(kn);
		if (!up)
			break;
		if (off > RTG_FILENAME_MAX + i * RTG_CGROUP_NAME_MAX)
			break; /* never taken; bounds `off` for the verifier */
		n = bpf_probe_read_kernel_str(&b->data[off], RTG_CGROUP_NAME_MAX, kn->name);
		if (n <= 0) {
			flags |= RTG_F_CGROUP_TRUNC;
			break;
		}
		if (n >= RTG_CGROUP_NAME_MAX)
			flags |= RTG_F_CGROUP_TRUNC;
		off += n;
		depth++;
		kn = up;
	}
	if (depth == RTG_CGROUP_MAX_DEPTH && kn && kn_parent(kn))
		flags |= RTG_F_CGROUP_DEEP;
	e->cgroup_depth = depth;
	e->cgroup_len = off - e->filename_len;

	/* Tail 3: the raw argv area of the new image, cut at max_args_bytes. */
	a_start = mm->arg_start;
	a_end = mm->arg_end;
	a_size = a_end > a_start ? a_end - a_start : 0;
	e->args_size = a_size > 0xffffffffUL ? 0xffffffffU : a_size;
	max_args = rtg_cfg.max_args_bytes;
	if (max_args > RTG_ARGS_MAX)
		max_args = RTG_ARGS_MAX;
	if (a_size > max_args) {
		a_size = max_args;
		flags |= RTG_F_ARGS_TRUNC;
	}
	e->args_len = 0;
	BOUND(off, CGROUP_END); /* never clamps; bounds `off` for the verifier */
	if (a_size > 0 && a_size <= RTG_ARGS_MAX) {
		if (bpf_probe_read_user(&b->data[off], a_size, (const void *)a_start) == 0)
			e->args_len = a_size;
		else
			flags |= RTG_F_ARGS_FAULT;
	}
	off += e->args_len;

	/* Tail 4: working directory; tail 5: the executable's path, both from the task's root. */
	fs = p->fs;
	pos = walk_path(fs->pwd.dentry, fs->pwd.mnt, fs->root.dentry, fs->root.mnt, 0, pb, &flags);
	BOUND(off, ARGS_END);
	e->cwd_len = copy_walked(&b->data[off], pb, pos);
	off += e->cwd_len;
	e->exe_len = 0;
	if (ino) {
		struct dentry *xd = exe->f_path.dentry;

		pos = walk_path(xd, exe->f_path.mnt, fs->root.dentry, fs->root.mnt, 0, pb, &flags);
		BOUND(off, CWD_END);
		e->exe_len = copy_walked(&b->data[off], pb, pos);
		off += e->exe_len;
		if (bpf_core_read(&pb->buf[0], 8, &xd->d_name.name) == 0) {
			char m[6] = {};

			bpf_probe_read_kernel(m, sizeof(m), *(const char **)&pb->buf[0]);
			if (m[0] == 'm' && m[1] == 'e' && m[2] == 'm' && m[3] == 'f' && m[4] == 'd' && m[5] == ':')
				flags |= RTG_F_EXE_MEMFD;
		}
	}

	/* Tail 6: the environment area, cut at max_env_bytes (user space keeps LD_* only). */
	a_start = mm->env_start;
	a_end = mm->env_end;
	a_size = a_end > a_start ? a_end - a_start : 0;
	e->env_size = a_size > 0xffffffffUL ? 0xffffffffU : a_size;
	max_env = rtg_cfg.max_env_bytes;
	if (max_env > RTG_ENV_MAX)
		max_env = RTG_ENV_MAX;
	if (a_size > max_env) {
		a_size = max_env;
		flags |= RTG_F_ENV_TRUNC;
	}
	e->env_len = 0;
	BOUND(off, EXE_END);
	if (a_size > 0 && a_size <= RTG_ENV_MAX) {
		if (bpf_probe_read_user(&b->data[off], a_size, (const void *)a_start) == 0)
			e->env_len = a_size;
	}

	size = sizeof(*e) + off + e->env_len;
	if (size > sizeof(*b))
		size = sizeof(*b);
	fill_hdr(&e->hdr, RTG_OP_EXEC, size);
	e->hdr.flags = flags;
	emit(b, size);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(rtg_fork, struct task_struct *cur, struct task_struct *child)
{
	struct task_struct *parent;
	struct rtg_fork *r;
	__u32 pidns;

	if (child->pid != child->tgid)
		return 0; /* a thread, not a process */
	if (!RESERVE(r))
		return 0;
	fill_hdr(&r->hdr, RTG_OP_FORK, sizeof(*r));
	parent = child->real_parent;
	r->parent_pid = parent->tgid;
	r->child_pid = child->tgid;
	r->parent_start_boottime = parent->group_leader->start_boottime;
	r->child_start_boottime = child->start_boottime;
	r->child_ns_pid = task_ns_pid(child, &pidns);
	r->_pad0 = 0;
	bpf_ringbuf_submit(r, submit_flags());
	count(RTG_CNT_EMITTED);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(rtg_exit, struct task_struct *p)
{
	struct rtg_exit *r;
	__u32 tgid;

	/* signal->live drops to 0 in do_exit() before this tracepoint, in the last thread only. */
	if (p->signal->live.counter != 0)
		return 0;
	tgid = p->tgid;
	if (tgid == rtg_cfg.ignore_tgid)
		return 0;
	if (!RESERVE(r))
		return 0;
	fill_hdr(&r->hdr, RTG_OP_EXIT, sizeof(*r));
	r->pid = tgid;
	r->exit_code = p->exit_code;
	r->start_boottime = p->group_leader->start_boottime;
	bpf_ringbuf_submit(r, submit_flags());
	count(RTG_CNT_EMITTED);
	return 0;
}

/* ================================================================ network */

struct rtg_sockaddr {
	__u16 family;
	__u16 port; /* network order */
	union {
		__u8 v4[4];
		struct {
			__u32 flowinfo;
			__u8 v6[16];
		};
	};
	char rest[RTG_UNIX_PATH_MAX];
};

static __always_inline int read_sockaddr(struct rtg_sockaddr *sa, const void *uaddr, __u64 len)
{
	if (!uaddr || len < 2)
		return -1;
	BOUND(len, sizeof(*sa));
	return bpf_probe_read_user(sa, len, uaddr);
}

static __always_inline void sa_addr(const struct rtg_sockaddr *sa, __u8 *dst)
{
	if (sa->family == AF_INET6_)
		__builtin_memcpy(dst, sa->v6, 16);
	else
		__builtin_memcpy(dst, sa->v4, 4);
}

static __always_inline void sk_fill(struct sock *sk, struct rtg_net *r)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	r->family = family;
	r->protocol = BPF_CORE_READ(sk, sk_protocol);
	r->sock_type = BPF_CORE_READ(sk, sk_type);
	r->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6_) {
		bpf_core_read(r->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(r->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)r->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)r->raddr, sk, __sk_common.skc_daddr);
	}
}

static __always_inline void emit_net(struct sock *sk, __u8 kind, __s32 ret, const struct rtg_sockaddr *sa, int sa_remote)
{
	struct rtg_net r = {};

	fill_hdr(&r.hdr, RTG_OP_NET, sizeof(r));
	fill_task(&r.task);
	r.kind = kind;
	r.ret = ret;
	if (sk)
		sk_fill(sk, &r);
	if (sa && (sa->family == AF_INET_ || sa->family == AF_INET6_)) {
		r.family = sa->family;
		if (sa_remote) {
			sa_addr(sa, r.raddr);
			r.rport = bpf_ntohs(sa->port);
		} else if (ret < 0 || !sk) {
			sa_addr(sa, r.laddr);
			r.lport = bpf_ntohs(sa->port);
		}
	}
	emit(&r, sizeof(r));
}

SEC("tracepoint/syscalls/sys_enter_connect")
int rtg_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	pend(P_CONNECT, 0, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int rtg_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	struct rtg_pending p;
	struct rtg_sockaddr sa = {};
	struct sock *sk;

	if (take(P_CONNECT, &p))
		return 0;
	if (read_sockaddr(&sa, (const void *)p.a[1], p.a[2]))
		return 0;
	if (sa.family == AF_UNIX_) {
		struct rtg_unix u = {};
		__u64 plen = p.a[2] > 2 ? p.a[2] - 2 : 0;

		fill_hdr(&u.hdr, RTG_OP_UNIX, sizeof(u));
		fill_task(&u.task);
		u.ret = ctx->ret;
		u.path_len = plen > RTG_UNIX_PATH_MAX ? RTG_UNIX_PATH_MAX : plen;
		__builtin_memcpy(u.path, &sa.port, RTG_UNIX_PATH_MAX); /* sun_path starts at offset 2 */
		sk = file_sock(cur_fd_file(p.a[0]));
		if (sk)
			u.sock_type = BPF_CORE_READ(sk, sk_type);
		emit(&u, sizeof(u));
		return 0;
	}
	if (sa.family != AF_INET_ && sa.family != AF_INET6_)
		return 0;
	sk = file_sock(cur_fd_file(p.a[0]));
	emit_net(sk, RTG_NET_CONNECT, ctx->ret, &sa, 1);
	return 0;
}

static __always_inline int enter_accept(void)
{
	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	pend(P_ACCEPT, 0, 0, 0, 0, 0, 0);
	return 0;
}

/* An rtg_net record of `kind` for the IPv4/IPv6 socket at `fd` (nothing for another file). */
static __always_inline void emit_inet_fd(__u64 fd, __u8 kind, __s32 ret)
{
	struct sock *sk = file_sock(cur_fd_file(fd));
	__u16 family;

	if (!sk)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET_ || family == AF_INET6_)
		emit_net(sk, kind, ret, NULL, 0);
}

static __always_inline int exit_accept(long ret)
{
	struct rtg_pending p;

	if (take(P_ACCEPT, &p) || ret < 0)
		return 0;
	emit_inet_fd(ret, RTG_NET_ACCEPT, ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_accept")
int rtg_enter_accept(struct trace_event_raw_sys_enter *ctx) { return enter_accept(); }
SEC("tracepoint/syscalls/sys_enter_accept4")
int rtg_enter_accept4(struct trace_event_raw_sys_enter *ctx) { return enter_accept(); }
SEC("tracepoint/syscalls/sys_exit_accept")
int rtg_exit_accept(struct trace_event_raw_sys_exit *ctx) { return exit_accept(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_accept4")
int rtg_exit_accept4(struct trace_event_raw_sys_exit *ctx) { return exit_accept(ctx->ret); }

/*
 * A network socket duplicated onto stdin, stdout or stderr after exec (ABI 3.3): how a
 * reverse shell that hands its shell a pty (python's pty.spawn) or none at all gets the socket
 * onto its stdio. Exit-only: the new fd is the return value, and the file now at that fd is
 * the duplicated one. dup2 is missing on some architectures (arm64): a missing tracepoint is
 * skipped at load.
 */
static __always_inline int exit_dup(long ret)
{
	if (ret >= 0 && ret <= 2 && !ignored(bpf_get_current_pid_tgid() >> 32))
		emit_inet_fd(ret, RTG_NET_DUP_STDIO, ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_dup")
int rtg_exit_dup(struct trace_event_raw_sys_exit *ctx) { return exit_dup(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_dup2")
int rtg_exit_dup2(struct trace_event_raw_sys_exit *ctx) { return exit_dup(ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_dup3")
int rtg_exit_dup3(struct trace_event_raw_sys_exit *ctx) { return exit_dup(ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_bind")
int rtg_enter_bind(struct trace_event_raw_sys_enter *ctx)
{
	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	pend(P_BIND, 0, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int rtg_exit_bind(struct trace_event_raw_sys_exit *ctx)
{
	struct rtg_pending p;
	struct rtg_sockaddr sa = {};

	if (take(P_BIND, &p))
		return 0;
	if (read_sockaddr(&sa, (const void *)p.a[1], p.a[2]))
		return 0;
	if (sa.family != AF_INET_ && sa.family != AF_INET6_)
		return 0;
	emit_net(ctx->ret < 0 ? NULL : file_sock(cur_fd_file(p.a[0])), RTG_NET_BIND, ctx->ret, &sa, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_listen")
int rtg_enter_listen(struct trace_event_raw_sys_enter *ctx)
{
	struct sock *sk;
	__u16 family;

	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	sk = file_sock(cur_fd_file(ctx->args[0]));
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET_ || family == AF_INET6_)
		emit_net(sk, RTG_NET_LISTEN, 0, NULL, 0);
	return 0;
}

/* ================================================================ DNS */

static __always_inline struct rtg_rec_buf *recbuf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&rtg_rec, &zero);
}

/* Is this a DNS exchange: a destination port of 53 given, or a socket connected to port 53, or one
 * that sent to port 53 before. Fills `peer`. */
/*
 * sk comes from file_sock (BTF-typed): the checks below are plain loads, cheapest first, so a
 * non-DNS inet socket costs a few loads; only unconnected UDP sockets look in rtg_dns_socks (the
 * only sockets put there).
 */
static __always_inline int dns_peer(struct sock *sk, const struct rtg_sockaddr *sa, struct rtg_dns_peer *peer)
{
	__u64 key = (__u64)sk;
	struct rtg_dns_peer *known;
	__u16 family;

	if (sa && (sa->family == AF_INET_ || sa->family == AF_INET6_)) {
		if (bpf_ntohs(sa->port) != DNS_PORT)
			return 0;
		peer->family = sa->family;
		peer->rport = DNS_PORT;
		sa_addr(sa, peer->raddr);
		peer->protocol = sk->sk_protocol;
		return 1;
	}
	family = sk->__sk_common.skc_family;
	if (family != AF_INET_ && family != AF_INET6_)
		return 0;
	if (bpf_ntohs(sk->__sk_common.skc_dport) == DNS_PORT) {
		peer->family = family;
		peer->rport = DNS_PORT;
		peer->protocol = sk->sk_protocol;
		if (family == AF_INET6_)
			bpf_core_read(peer->raddr, 16, &sk->__sk_common.skc_v6_daddr);
		else
			BPF_CORE_READ_INTO((__u32 *)peer->raddr, sk, __sk_common.skc_daddr);
		return 1;
	}
	if (sk->sk_protocol != IPPROTO_UDP)
		return 0;
	known = bpf_map_lookup_elem(&rtg_dns_socks, &key);
	if (!known)
		return 0;
	*peer = *known;
	return 1;
}

/* Emit one DNS message: up to two user buffers (TCP clients often send the length prefix apart). */
static __always_inline void emit_dns(struct sock *sk, const struct rtg_dns_peer *peer, __u8 dir,
				     const void *b0, __u64 l0, const void *b1, __u64 l1, __u64 total)
{
	struct rtg_rec_buf *b = recbuf();
	struct rtg_dns *r;
	char *data;
	__u32 n0, n1 = 0;

	if (!b)
		return;
	r = (struct rtg_dns *)b;
	data = REC_TAIL(b, struct rtg_dns);
	fill_hdr(&r->hdr, RTG_OP_DNS, 0);
	fill_task(&r->task);
	r->family = peer->family;
	r->direction = dir;
	r->protocol = peer->protocol;
	r->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	r->rport = peer->rport;
	__builtin_memcpy(r->raddr, peer->raddr, 16);
	r->_pad0 = 0;
	r->msg_size = total;
	n0 = l0 > RTG_DNS_MAX ? RTG_DNS_MAX : l0;
	if (n0 == 0 || bpf_probe_read_user(data, n0 & (2 * RTG_DNS_MAX - 1), b0))
		return;
	if (b1 && n0 < RTG_DNS_MAX) {
		n1 = l1 > RTG_DNS_MAX - n0 ? RTG_DNS_MAX - n0 : l1;
		if (n1 > RTG_DNS_MAX)
			n1 = 0;
		if (n1 && bpf_probe_read_user(&data[n0 & (RTG_DNS_MAX - 1)], n1 & (RTG_DNS_MAX - 1), b1))
			n1 = 0;
	}
	r->data_len = n0 + n1;
	if (total > r->data_len)
		r->hdr.flags |= RTG_F_DATA_TRUNC;
	r->hdr.size = sizeof(*r) + r->data_len;
	emit(b, (sizeof(*r) + r->data_len) & 0xfff);
	if (dir == 0 && peer->protocol == IPPROTO_UDP) {
		__u64 key = (__u64)sk;

		bpf_map_update_elem(&rtg_dns_socks, &key, peer, BPF_ANY);
	}
}

static __always_inline void send_dns(__u64 fd, const struct rtg_sockaddr *sa, const void *b0, __u64 l0,
				     const void *b1, __u64 l1, __u64 total)
{
	struct rtg_dns_peer peer = {};
	struct sock *sk = file_sock(cur_fd_file(fd));

	if (!sk || !dns_peer(sk, sa, &peer))
		return;
	emit_dns(sk, &peer, 0, b0, l0, b1, l1, total);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int rtg_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	struct rtg_sockaddr sa = {};
	int have;

	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	have = read_sockaddr(&sa, (const void *)ctx->args[4], ctx->args[5]) == 0;
	send_dns(ctx->args[0], have ? &sa : NULL, (const void *)ctx->args[1], ctx->args[2], NULL, 0, ctx->args[2]);
	return 0;
}

static __always_inline void send_msghdr(__u64 fd, const struct user_msghdr *um)
{
	struct user_msghdr m = {};
	struct iovec iov[2] = {};
	struct rtg_sockaddr sa = {};
	int have = 0;

	if (bpf_probe_read_user(&m, sizeof(m), um))
		return;
	if (m.msg_name)
		have = read_sockaddr(&sa, m.msg_name, m.msg_namelen) == 0;
	if (!m.msg_iov || m.msg_iovlen == 0)
		return;
	bpf_probe_read_user(iov, m.msg_iovlen > 1 ? sizeof(iov) : sizeof(iov[0]), m.msg_iov);
	send_dns(fd, have ? &sa : NULL, iov[0].iov_base, iov[0].iov_len,
		 m.msg_iovlen > 1 ? iov[1].iov_base : NULL, iov[1].iov_len, iov[0].iov_len + iov[1].iov_len);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int rtg_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	send_msghdr(ctx->args[0], (const struct user_msghdr *)ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int rtg_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	const struct mmsghdr *mm = (const struct mmsghdr *)ctx->args[1];
	__u64 vlen = ctx->args[2];

	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	/* glibc sends the A and AAAA queries in one call: look at the first two. */
	if (vlen > 0)
		send_msghdr(ctx->args[0], &mm[0].msg_hdr);
	if (vlen > 1)
		send_msghdr(ctx->args[0], &mm[1].msg_hdr);
	return 0;
}

/* write/writev/read run on every call system-wide: the socket and port checks come first (plain
 * loads, one helper for the fd slot); the own-process check only for DNS sockets. */
SEC("tracepoint/syscalls/sys_enter_write")
int rtg_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	struct rtg_dns_peer peer = {};
	struct sock *sk = file_sock(cur_fd_file(ctx->args[0]));

	if (!sk || !dns_peer(sk, NULL, &peer) || ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	emit_dns(sk, &peer, 0, (const void *)ctx->args[1], ctx->args[2], NULL, 0, ctx->args[2]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_writev")
int rtg_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	struct rtg_dns_peer peer = {};
	struct iovec iov[2] = {};
	__u64 n = ctx->args[2];
	struct sock *sk;

	if (n == 0)
		return 0;
	sk = file_sock(cur_fd_file(ctx->args[0]));
	if (!sk || !dns_peer(sk, NULL, &peer) || ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	bpf_probe_read_user(iov, n > 1 ? sizeof(iov) : sizeof(iov[0]), (const void *)ctx->args[1]);
	emit_dns(sk, &peer, 0, iov[0].iov_base, iov[0].iov_len, n > 1 ? iov[1].iov_base : NULL, iov[1].iov_len,
		 iov[0].iov_len + iov[1].iov_len);
	return 0;
}

/*
 * Receive side: remember the buffer at enter when the socket is a DNS one, copy at exit.
 * rtg_recv_waiting counts the receives remembered and not yet finished, so that the exit of every
 * other read on the machine is one load and a branch instead of a hash look-up. An entry that is
 * never finished (LRU eviction) leaves the count high: exits then just look up, as before.
 */
__u64 rtg_recv_waiting = 0;

static __always_inline int enter_recv(__u32 kind, __u64 fd, __u64 buf)
{
	struct rtg_dns_peer peer = {};
	struct sock *sk = file_sock(cur_fd_file(fd));

	if (!sk || !dns_peer(sk, NULL, &peer) || ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (pend(kind, 0, fd, buf, (__u64)sk, 0, 0) == 0)
		__sync_fetch_and_add(&rtg_recv_waiting, 1);
	return 0;
}

static __always_inline int exit_recv(__u32 kind, long ret)
{
	struct rtg_dns_peer peer = {};
	struct rtg_pending p;
	struct sock *sk;
	const void *buf;

	if (*(volatile __u64 *)&rtg_recv_waiting == 0)
		return 0;
	if (take(kind, &p))
		return 0;
	__sync_fetch_and_add(&rtg_recv_waiting, -1);
	if (ret <= 0)
		return 0;
	sk = bpf_rdonly_cast((void *)p.a[2], bpf_core_type_id_kernel(struct sock));
	if (!dns_peer(sk, NULL, &peer))
		return 0;
	buf = (const void *)p.a[1];
	if (kind == P_RECVMSG) {
		struct user_msghdr m = {};
		struct iovec iov = {};

		if (bpf_probe_read_user(&m, sizeof(m), buf) || !m.msg_iov)
			return 0;
		bpf_probe_read_user(&iov, sizeof(iov), m.msg_iov);
		buf = iov.iov_base;
		if ((__u64)ret > iov.iov_len)
			ret = iov.iov_len;
	} else if (kind == P_RECVMMSG) {
		/* ret = messages received; the first one is the answer (one query per socket) */
		struct mmsghdr mm = {};
		struct iovec iov = {};

		if (bpf_probe_read_user(&mm, sizeof(mm), buf) || !mm.msg_hdr.msg_iov)
			return 0;
		bpf_probe_read_user(&iov, sizeof(iov), mm.msg_hdr.msg_iov);
		buf = iov.iov_base;
		ret = mm.msg_len;
		if ((__u64)ret > iov.iov_len)
			ret = iov.iov_len;
		if (ret <= 0)
			return 0;
	}
	emit_dns(sk, &peer, 1, buf, ret, NULL, 0, ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int rtg_enter_recvfrom(struct trace_event_raw_sys_enter *ctx) { return enter_recv(P_RECV, ctx->args[0], ctx->args[1]); }
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int rtg_exit_recvfrom(struct trace_event_raw_sys_exit *ctx) { return exit_recv(P_RECV, ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_read")
int rtg_enter_read(struct trace_event_raw_sys_enter *ctx) { return enter_recv(P_RECV, ctx->args[0], ctx->args[1]); }
SEC("tracepoint/syscalls/sys_exit_read")
int rtg_exit_read(struct trace_event_raw_sys_exit *ctx) { return exit_recv(P_RECV, ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int rtg_enter_recvmsg(struct trace_event_raw_sys_enter *ctx) { return enter_recv(P_RECVMSG, ctx->args[0], ctx->args[1]); }
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int rtg_exit_recvmsg(struct trace_event_raw_sys_exit *ctx) { return exit_recv(P_RECVMSG, ctx->ret); }
SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int rtg_enter_recvmmsg(struct trace_event_raw_sys_enter *ctx) { return enter_recv(P_RECVMMSG, ctx->args[0], ctx->args[1]); }
SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int rtg_exit_recvmmsg(struct trace_event_raw_sys_exit *ctx) { return exit_recv(P_RECVMMSG, ctx->ret); }

/* ================================================================ files */

/* The watched prefixes (rodata): no prefix configured means every path. */
static __always_inline int path_wanted(const char *s)
{
	int i;

	if (rtg_cfg.prefix_count == 0)
		return 1;
#pragma unroll
	for (i = 0; i < RTG_PREFIX_SLOTS; i++) {
		__u32 n = (__u8)rtg_cfg.prefix_len[i];

		if (i < rtg_cfg.prefix_count && n > 0 && n < RTG_PREFIX_LEN &&
		    bpf_strncmp(s, n, (const char *)&rtg_cfg.prefixes[i * RTG_PREFIX_LEN]) == 0)
			return 1;
	}
	return 0;
}

/*
 * Resolve a user path argument into pb: absolute strings are copied as given; relative ones are
 * appended to the directory of `dfd` (the cwd for AT_FDCWD). Returns the start offset in pb->buf
 * and the length (NUL included) in *len; the string is at most RTG_PATH_MAX + RTG_STR_MAX bytes.
 */
static __always_inline __u32 resolve_user(__s64 dfd, const char *upath, __u32 slot, struct rtg_pathbuf *pb, __u32 *len,
					  __u16 *flags)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fs_struct *fs = BPF_CORE_READ(t, fs);
	struct dentry *root_d = BPF_CORE_READ(fs, root.dentry);
	struct vfsmount *root_m = BPF_CORE_READ(fs, root.mnt);
	char c = 0;
	long n;
	__u32 pos;

	bpf_probe_read_user(&c, 1, upath);
	if (c == '/') {
		n = bpf_probe_read_user_str(pb->buf, RTG_PATH_MAX, upath);
		*len = n > 0 ? n : 0;
		return 0;
	}
	if (dfd == AT_FDCWD_) {
		pos = walk_path(BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt), root_d, root_m, slot, pb, flags);
	} else {
		struct file *f = cur_fd_file(dfd);

		if (!f) {
			*len = 0;
			return 0;
		}
		pos = walk_path(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt), root_d, root_m, slot,
				pb, flags);
	}
	if (c == 0) { /* an empty path (AT_EMPTY_PATH): the fd's (or cwd's) own path, no separator */
		pos &= RTG_PATH_MAX - 1;
		*len = RTG_PATH_MAX - pos;
		return pos;
	}
	/* pb->buf[pos .. RTG_PATH_MAX - 2] is the directory; its NUL becomes the separator. */
	pb->buf[RTG_PATH_MAX - 1] = '/';
	if (pos == RTG_PATH_MAX - 2) {
		pos = RTG_PATH_MAX - 1; /* the directory is "/": do not double the slash */
	}
	n = bpf_probe_read_user_str(&pb->buf[RTG_PATH_MAX], RTG_STR_MAX, upath);
	if (n <= 0)
		n = 1;
	pos &= RTG_PATH_MAX - 1;
	*len = RTG_PATH_MAX - pos + n;
	return pos;
}

/* Append pb's string to the record's data at *off; returns bytes copied. */
static __always_inline __u32 put_path(struct rtg_rec_buf *b, __u32 off, struct rtg_pathbuf *pb, __u32 pos, __u32 len)
{
	pos &= RTG_PATH_MAX - 1;
	if (len > RTG_PATH_MAX + RTG_STR_MAX || len == 0)
		return 0;
	if (off > RTG_PATH_MAX + 2 * RTG_STR_MAX)
		return 0;
	if (bpf_probe_read_kernel(REC_TAIL(b, struct rtg_file) + off, len, &pb->buf[pos]))
		return 0;
	return len;
}

static __always_inline void file_record(struct rtg_rec_buf *b, __u8 kind, __s32 ret, __u32 flags, __u32 mode,
					__u16 hflags)
{
	struct rtg_file *r = (struct rtg_file *)b;
	__u32 size = sizeof(*r) + r->path_len + r->path2_len;

	fill_hdr(&r->hdr, RTG_OP_FILE, size);
	r->hdr.flags = hflags;
	fill_task(&r->task);
	r->ret = ret;
	r->kind = kind;
	r->_pad0 = 0;
	r->_pad1 = 0;
	r->_pad2 = 0;
	r->flags = flags;
	r->mode = mode;
	if (size > sizeof(*b))
		return;
	emit(b, size);
}

static __always_inline void emit_uffd_dev(long ret)
{
	struct rtg_proc_op r = {};

	fill_hdr(&r.hdr, RTG_OP_PROC, sizeof(r));
	fill_task(&r.task);
	r.kind = RTG_PROC_USERFAULTFD;
	r.ret = ret;
	r.arg1 = 1;
	emit(&r, sizeof(r));
}

/* The user path is "/dev/userfaultfd": 8 bytes compared first. */
static __always_inline int is_uffd_dev_path(const char *upath)
{
	char p[17] = {};

	if (bpf_probe_read_user(p, 8, upath) || p[0] != '/' || p[1] != 'd' || p[2] != 'e' || p[3] != 'v' ||
	    p[4] != '/' || p[5] != 'u' || p[6] != 's' || p[7] != 'e')
		return 0;
	if (bpf_probe_read_user(p, sizeof(p), upath))
		return 0;
	return p[8] == 'r' && p[9] == 'f' && p[10] == 'a' && p[11] == 'u' && p[12] == 'l' && p[13] == 't' &&
	       p[14] == 'f' && p[15] == 'd' && p[16] == 0;
}

/*
 * open(at)/creat for write: remember flags (and the user path) at enter; at exit resolve the
 * opened file's path. Other opens cost nothing at enter. An open of /dev/userfaultfd with any
 * flags becomes a userfaultfd record at exit: a successful one by its inode (a char device named
 * "userfaultfd"), a failed one by its user path, read only for failed opens (from the pending
 * entry, or from the syscall's saved registers for read-only opens).
 */
static __always_inline int enter_open(__u64 flags, __u64 mode, const char *upath)
{
	if (!(flags & O_WRITE_MASK_) || ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	pend(P_OPEN, 0, flags, mode, (__u64)upath, 0, 0);
	return 0;
}

/* The fd is /dev/userfaultfd: a char device whose dentry is "userfaultfd". */
static __always_inline int is_uffd_dev_file(struct file *f)
{
	char name[12] = {};

	if (!f || (f->f_inode->i_mode & S_IFMT_) != S_IFCHR_)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), f->f_path.dentry->d_name.name);
	return name[0] == 'u' && name[1] == 's' && name[2] == 'e' && name[3] == 'r' && name[4] == 'f' &&
	       name[5] == 'a' && name[6] == 'u' && name[7] == 'l' && name[8] == 't' && name[9] == 'f' &&
	       name[10] == 'd' && name[11] == 0;
}

/* An open that was not remembered at enter (read-only): only /dev/userfaultfd matters. `arg2`:
 * the path is the syscall's second argument (openat, openat2), else its first (open). */
static __always_inline int exit_open_ro(long ret, int arg2)
{
	struct pt_regs *regs;
	const char *upath;

	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (ret >= 0) {
		if (is_uffd_dev_file(cur_fd_file(ret)))
			emit_uffd_dev(ret);
		return 0;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	upath = arg2 ? (const char *)PT_REGS_PARM2_CORE_SYSCALL(regs) : (const char *)PT_REGS_PARM1_CORE_SYSCALL(regs);
	if (is_uffd_dev_path(upath))
		emit_uffd_dev(ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int rtg_enter_openat(struct trace_event_raw_sys_enter *ctx) { return enter_open(ctx->args[2], ctx->args[3], (const char *)ctx->args[1]); }
SEC("tracepoint/syscalls/sys_enter_open")
int rtg_enter_open(struct trace_event_raw_sys_enter *ctx) { return enter_open(ctx->args[1], ctx->args[2], (const char *)ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_creat")
int rtg_enter_creat(struct trace_event_raw_sys_enter *ctx) { return enter_open(01 | 0100 | 01000, ctx->args[1], (const char *)ctx->args[0]); }

SEC("tracepoint/syscalls/sys_enter_openat2")
int rtg_enter_openat2(struct trace_event_raw_sys_enter *ctx)
{
	struct open_how how = {};

	bpf_probe_read_user(&how, sizeof(how), (const void *)ctx->args[2]);
	return enter_open(how.flags, how.mode, (const char *)ctx->args[1]);
}

/*
 * Write-open coalescing: a process that opens the same file for write again within
 * RTG_COALESCE_NS of its last reported open is not reported again (counted in
 * RTG_CNT_COALESCED instead), so a write storm costs one record per file, process and second
 * rather than one per open. Keyed by inode: the check comes before the path walk.
 */
#define RTG_COALESCE_NS 1000000000ULL

struct rtg_wopen_key {
	__u64 ino;
	__u32 dev;
	__u32 tgid;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct rtg_wopen_key);
	__type(value, __u64); /* ktime of the last reported open */
} rtg_wopen_seen SEC(".maps");

static __always_inline int exit_open(long ret, int arg2)
{
	struct rtg_pending p;
	struct rtg_rec_buf *b;
	struct rtg_pathbuf *pb;
	struct task_struct *t;
	struct file *f;
	struct inode *ino;
	struct dentry *d;
	struct rtg_wopen_key wkey = {};
	__u64 now, *last;
	__u16 hflags = 0;
	__u32 pos, len;
	int force = 0;

	if (take(P_OPEN, &p))
		return exit_open_ro(ret, arg2);
	if (ret < 0) {
		if (is_uffd_dev_path((const char *)p.a[2]))
			emit_uffd_dev(ret);
		return 0;
	}
	t = (struct task_struct *)bpf_get_current_task();
	f = fd_file(t, ret);
	if (!f)
		return 0;
	ino = BPF_CORE_READ(f, f_inode);
	d = BPF_CORE_READ(f, f_path.dentry);
	if ((BPF_CORE_READ(ino, i_mode) & S_IFMT_) == S_IFCHR_) {
		char name[12] = {};

		bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(d, d_name.name));
		if (name[0] == 'u' && name[1] == 's' && name[2] == 'e' && name[3] == 'r' && name[4] == 'f' &&
		    name[5] == 'a' && name[6] == 'u' && name[7] == 'l' && name[8] == 't' && name[9] == 'f' &&
		    name[10] == 'd' && name[11] == 0)
			emit_uffd_dev(ret);
		return 0;
	}
	if (BPF_CORE_READ(ino, i_sb, s_magic) == PROC_MAGIC_) {
		char name[4] = {};

		bpf_probe_read_kernel_str(name, sizeof(name), BPF_CORE_READ(d, d_name.name));
		force = name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && name[3] == 0;
	}
	wkey.ino = BPF_CORE_READ(ino, i_ino);
	wkey.dev = BPF_CORE_READ(ino, i_sb, s_dev);
	wkey.tgid = bpf_get_current_pid_tgid() >> 32;
	now = bpf_ktime_get_ns();
	last = bpf_map_lookup_elem(&rtg_wopen_seen, &wkey);
	if (last && now - *last < RTG_COALESCE_NS) {
		count(RTG_CNT_COALESCED);
		return 0;
	}
	b = recbuf();
	pb = pathbuf(0);
	if (!b || !pb)
		return 0;
	pos = walk_path(d, BPF_CORE_READ(f, f_path.mnt), BPF_CORE_READ(t, fs, root.dentry),
			BPF_CORE_READ(t, fs, root.mnt), 0, pb, &hflags);
	pos &= RTG_PATH_MAX - 1;
	if (!force && !path_wanted(&pb->buf[pos])) {
		count(RTG_CNT_FILTERED);
		return 0;
	}
	bpf_map_update_elem(&rtg_wopen_seen, &wkey, &now, BPF_ANY);
	len = RTG_PATH_MAX - pos;
	((struct rtg_file *)b)->path_len = put_path(b, 0, pb, pos, len);
	((struct rtg_file *)b)->path2_len = 0;
	file_record(b, RTG_FILE_WRITE, ret, p.a[0], p.a[1], hflags);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int rtg_exit_openat(struct trace_event_raw_sys_exit *ctx) { return exit_open(ctx->ret, 1); }
SEC("tracepoint/syscalls/sys_exit_open")
int rtg_exit_open(struct trace_event_raw_sys_exit *ctx) { return exit_open(ctx->ret, 0); }
SEC("tracepoint/syscalls/sys_exit_creat")
int rtg_exit_creat(struct trace_event_raw_sys_exit *ctx) { return exit_open(ctx->ret, 0); }
SEC("tracepoint/syscalls/sys_exit_openat2")
int rtg_exit_openat2(struct trace_event_raw_sys_exit *ctx) { return exit_open(ctx->ret, 1); }

/* rename/link/symlink/unlink/chmod: pointers at enter, paths resolved at exit (successes only). */
static __always_inline int enter_pair(__u32 kind, __u32 aux, __u64 d1, __u64 p1, __u64 d2, __u64 p2, __u64 x)
{
	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	pend(kind, aux, d1, p1, d2, p2, x);
	return 0;
}

static __always_inline int exit_pair(__u32 pkind, __u8 kind, long ret)
{
	struct rtg_pending p;
	struct rtg_rec_buf *b;
	struct rtg_pathbuf *pb, *pb2;
	__u16 hflags = 0;
	__u32 pos, len, len2 = 0, pos2 = 0;
	int want;

	if (take(pkind, &p) || ret < 0)
		return 0;
	b = recbuf();
	pb = pathbuf(0);
	pb2 = pathbuf(1);
	if (!b || !pb || !pb2)
		return 0;
	if (pkind == P_SYMLINK) {
		/* a[1] = target as given (not resolved), a[3] = the new link */
		long n = bpf_probe_read_user_str(pb->buf, RTG_PATH_MAX, (const char *)p.a[1]);

		pos = 0;
		len = n > 0 ? n : 0;
	} else if (pkind == P_FCHMOD) {
		struct task_struct *t = (struct task_struct *)bpf_get_current_task();
		struct file *f = fd_file(t, p.a[0]);

		if (!f)
			return 0;
		pos = walk_path(BPF_CORE_READ(f, f_path.dentry), BPF_CORE_READ(f, f_path.mnt),
				BPF_CORE_READ(t, fs, root.dentry), BPF_CORE_READ(t, fs, root.mnt), 0, pb, &hflags);
		pos &= RTG_PATH_MAX - 1;
		len = RTG_PATH_MAX - pos;
	} else {
		pos = resolve_user(p.a[0], (const char *)p.a[1], 0, pb, &len, &hflags);
	}
	pos &= RTG_PATH_MAX - 1;
	want = path_wanted(&pb->buf[pos]);
	if (p.a[3]) {
		pos2 = resolve_user(p.a[2], (const char *)p.a[3], 1, pb2, &len2, &hflags);
		pos2 &= RTG_PATH_MAX - 1;
		want = want || path_wanted(&pb2->buf[pos2]);
	}
	if (!want) {
		count(RTG_CNT_FILTERED);
		return 0;
	}
	((struct rtg_file *)b)->path_len = put_path(b, 0, pb, pos, len);
	((struct rtg_file *)b)->path2_len = len2 ? put_path(b, ((struct rtg_file *)b)->path_len, pb2, pos2, len2) : 0;
	file_record(b, kind, ret, p.a[4], pkind == P_CHMOD || pkind == P_FCHMOD ? p.aux : 0, hflags);
	return 0;
}

#define AT 0xffffffffffffff9cULL /* AT_FDCWD as an unsigned syscall argument */

SEC("tracepoint/syscalls/sys_enter_rename")
int rtg_enter_rename(struct trace_event_raw_sys_enter *ctx) { return enter_pair(P_RENAME, 0, AT, ctx->args[0], AT, ctx->args[1], 0); }
SEC("tracepoint/syscalls/sys_enter_renameat")
int rtg_enter_renameat(struct trace_event_raw_sys_enter *ctx) { return enter_pair(P_RENAME, 0, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], 0); }
SEC("tracepoint/syscalls/sys_enter_renameat2")
int rtg_enter_renameat2(struct trace_event_raw_sys_enter *ctx) { return enter_pair(P_RENAME, 0, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4]); }
SEC("tracepoint/syscalls/sys_exit_rename")
int rtg_exit_rename(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_RENAME, RTG_FILE_RENAME, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_renameat")
int rtg_exit_renameat(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_RENAME, RTG_FILE_RENAME, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_renameat2")
int rtg_exit_renameat2(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_RENAME, RTG_FILE_RENAME, ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_link")
int rtg_enter_link(struct trace_event_raw_sys_enter *ctx) { return enter_pair(P_LINK, 0, AT, ctx->args[0], AT, ctx->args[1], 0); }
SEC("tracepoint/syscalls/sys_enter_linkat")
int rtg_enter_linkat(struct trace_event_raw_sys_enter *ctx) { return enter_pair(P_LINK, 0, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], ctx->args[4]); }
SEC("tracepoint/syscalls/sys_exit_link")
int rtg_exit_link(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_LINK, RTG_FILE_LINK, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_linkat")
int rtg_exit_linkat(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_LINK, RTG_FILE_LINK, ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_symlink")
int rtg_enter_symlink(struct trace_event_raw_sys_enter *ctx) { return enter_pair(P_SYMLINK, 0, AT, ctx->args[0], AT, ctx->args[1], 0); }
SEC("tracepoint/syscalls/sys_enter_symlinkat")
int rtg_enter_symlinkat(struct trace_event_raw_sys_enter *ctx) { return enter_pair(P_SYMLINK, 0, AT, ctx->args[0], ctx->args[1], ctx->args[2], 0); }
SEC("tracepoint/syscalls/sys_exit_symlink")
int rtg_exit_symlink(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_SYMLINK, RTG_FILE_SYMLINK, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_symlinkat")
int rtg_exit_symlinkat(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_SYMLINK, RTG_FILE_SYMLINK, ctx->ret); }

SEC("tracepoint/syscalls/sys_enter_unlink")
int rtg_enter_unlink(struct trace_event_raw_sys_enter *ctx) { return enter_pair(P_UNLINK, 0, AT, ctx->args[0], 0, 0, 0); }
SEC("tracepoint/syscalls/sys_enter_unlinkat")
int rtg_enter_unlinkat(struct trace_event_raw_sys_enter *ctx) { return enter_pair(P_UNLINK, 0, ctx->args[0], ctx->args[1], 0, 0, ctx->args[2]); }
SEC("tracepoint/syscalls/sys_exit_unlink")
int rtg_exit_unlink(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_UNLINK, RTG_FILE_UNLINK, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_unlinkat")
int rtg_exit_unlinkat(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_UNLINK, RTG_FILE_UNLINK, ctx->ret); }

/* chmod: only modes that set an exec bit. */
static __always_inline int enter_chmod(__u32 kind, __u64 dfd, __u64 path, __u64 mode)
{
	if (!(mode & 0111))
		return 0;
	return enter_pair(kind, mode, dfd, path, 0, 0, 0);
}

SEC("tracepoint/syscalls/sys_enter_chmod")
int rtg_enter_chmod(struct trace_event_raw_sys_enter *ctx) { return enter_chmod(P_CHMOD, AT, ctx->args[0], ctx->args[1]); }
SEC("tracepoint/syscalls/sys_enter_fchmodat")
int rtg_enter_fchmodat(struct trace_event_raw_sys_enter *ctx) { return enter_chmod(P_CHMOD, ctx->args[0], ctx->args[1], ctx->args[2]); }
SEC("tracepoint/syscalls/sys_enter_fchmodat2")
int rtg_enter_fchmodat2(struct trace_event_raw_sys_enter *ctx) { return enter_chmod(P_CHMOD, ctx->args[0], ctx->args[1], ctx->args[2]); }
SEC("tracepoint/syscalls/sys_enter_fchmod")
int rtg_enter_fchmod(struct trace_event_raw_sys_enter *ctx) { return enter_chmod(P_FCHMOD, ctx->args[0], 0, ctx->args[1]); }
SEC("tracepoint/syscalls/sys_exit_chmod")
int rtg_exit_chmod(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_CHMOD, RTG_FILE_CHMOD, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_fchmodat")
int rtg_exit_fchmodat(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_CHMOD, RTG_FILE_CHMOD, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_fchmodat2")
int rtg_exit_fchmodat2(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_CHMOD, RTG_FILE_CHMOD, ctx->ret); }
SEC("tracepoint/syscalls/sys_exit_fchmod")
int rtg_exit_fchmod(struct trace_event_raw_sys_exit *ctx) { return exit_pair(P_FCHMOD, RTG_FILE_CHMOD, ctx->ret); }

/* ================================================================ process and privilege */

static __always_inline void proc_op(__u8 kind, __s32 ret, __s64 arg0, __s64 arg1, __u32 target, const char *ustr,
				    __u32 old_uid, __u32 old_euid)
{
	struct rtg_rec_buf *b = recbuf();
	struct rtg_proc_op *r;
	const struct cred *c;
	long n = 0;

	if (!b)
		return;
	r = (struct rtg_proc_op *)b;
	__builtin_memset(r, 0, sizeof(*r));
	fill_task(&r->task);
	r->kind = kind;
	r->ret = ret;
	r->arg0 = arg0;
	r->arg1 = arg1;
	r->target_pid = target;
	r->old_uid = old_uid;
	r->old_euid = old_euid;
	c = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), cred);
	r->new_uid = BPF_CORE_READ(c, uid.val);
	r->new_euid = BPF_CORE_READ(c, euid.val);
	r->new_gid = BPF_CORE_READ(c, gid.val);
	r->new_egid = BPF_CORE_READ(c, egid.val);
	if (ustr) {
		n = bpf_probe_read_user_str(REC_TAIL(b, struct rtg_proc_op), RTG_STR_MAX, ustr);
		if (n < 0)
			n = 0;
	}
	r->str_len = n;
	fill_hdr(&r->hdr, RTG_OP_PROC, sizeof(*r) + n);
	emit(b, (sizeof(*r) + n) & 0x3ff);
}

SEC("tracepoint/syscalls/sys_enter_ptrace")
int rtg_enter_ptrace(struct trace_event_raw_sys_enter *ctx)
{
	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	proc_op(RTG_PROC_PTRACE, 0, ctx->args[0], ctx->args[2], ctx->args[1], NULL, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_process_vm_writev")
int rtg_enter_vm_writev(struct trace_event_raw_sys_enter *ctx)
{
	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	proc_op(RTG_PROC_VM_WRITE, 0, ctx->args[2], ctx->args[4], ctx->args[0], NULL, 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_memfd_create")
int rtg_enter_memfd(struct trace_event_raw_sys_enter *ctx)
{
	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	proc_op(RTG_PROC_MEMFD, 0, ctx->args[1], 0, 0, (const char *)ctx->args[0], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_userfaultfd")
int rtg_enter_userfaultfd(struct trace_event_raw_sys_enter *ctx)
{
	proc_op(RTG_PROC_USERFAULTFD, 0, ctx->args[0], 0, 0, NULL, 0, 0);
	return 0;
}

/*
 * A module load attempt: tail = the parameter string (NUL-terminated), then for finit_module the
 * path of the module file behind the fd (NUL-terminated); str_len covers both.
 */
static __always_inline void module_op(__s32 ret, __s64 fd, __s64 arg1, const char *uargs)
{
	struct rtg_rec_buf *b = recbuf();
	struct rtg_pathbuf *pb = pathbuf(0);
	struct task_struct *t = bpf_get_current_task_btf();
	const struct cred *c = t->cred;
	struct rtg_proc_op *r;
	struct file *f;
	char *tail;
	long n = 0;
	__u32 pos, len = 0;
	__u16 hflags = 0;

	if (!b || !pb)
		return;
	r = (struct rtg_proc_op *)b;
	tail = REC_TAIL(b, struct rtg_proc_op);
	__builtin_memset(r, 0, sizeof(*r));
	fill_task(&r->task);
	r->kind = RTG_PROC_MODULE;
	r->ret = ret;
	r->arg0 = fd;
	r->arg1 = arg1;
	r->new_uid = c->uid.val;
	r->new_euid = c->euid.val;
	r->new_gid = c->gid.val;
	r->new_egid = c->egid.val;
	if (uargs)
		n = bpf_probe_read_user_str(tail, RTG_STR_MAX, uargs);
	if (n <= 0) {
		tail[0] = 0;
		n = 1;
	}
	BOUND(n, RTG_STR_MAX);
	f = fd >= 0 ? cur_fd_file(fd) : NULL;
	if (f) {
		pos = walk_path(f->f_path.dentry, f->f_path.mnt, t->fs->root.dentry, t->fs->root.mnt, 0, pb, &hflags);
		pos &= RTG_PATH_MAX - 1;
		len = RTG_PATH_MAX - pos;
		if (len > RTG_PATH_MAX || bpf_probe_read_kernel(tail + n, len, &pb->buf[pos]))
			len = 0;
	}
	r->str_len = n + len;
	fill_hdr(&r->hdr, RTG_OP_PROC, sizeof(*r) + n + len);
	r->hdr.flags = hflags;
	emit(b, (sizeof(*r) + n + len) & 0x7ff);
}

/* Module loads: these tracepoints exist only on kernels with module support; elsewhere user space
 * loads rtg_sys_enter below instead. */
SEC("tracepoint/syscalls/sys_enter_finit_module")
int rtg_enter_finit_module(struct trace_event_raw_sys_enter *ctx)
{
	module_op(0, ctx->args[0], ctx->args[2], (const char *)ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_init_module")
int rtg_enter_init_module(struct trace_event_raw_sys_enter *ctx)
{
	module_op(0, -1, ctx->args[1], (const char *)ctx->args[2]);
	return 0;
}

#if defined(__TARGET_ARCH_arm64)
#define NR_INIT_MODULE 105
#define NR_FINIT_MODULE 273
#else
#define NR_INIT_MODULE 175
#define NR_FINIT_MODULE 313
#endif
#define ENOSYS_ 38

/*
 * Module load attempts on kernels without module support (no CONFIG_MODULES: no (f)init_module
 * syscall tracepoints, the syscalls return -ENOSYS). Runs on every syscall (raw_syscalls
 * sys_enter, BTF-typed: no argument copy), so the first instructions compare the syscall id and
 * return. User space loads it only when the module tracepoints are missing.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(rtg_sys_enter, struct pt_regs *regs, long id)
{
	if (id != NR_FINIT_MODULE && id != NR_INIT_MODULE)
		return 0;
	if (id == NR_FINIT_MODULE)
		module_op(-ENOSYS_, (int)PT_REGS_PARM1_CORE(regs), PT_REGS_PARM3_CORE(regs),
			  (const char *)PT_REGS_PARM2_CORE(regs));
	else
		module_op(-ENOSYS_, -1, PT_REGS_PARM2_CORE(regs), (const char *)PT_REGS_PARM3_CORE(regs));
	return 0;
}

static __always_inline int enter_cred(void)
{
	const struct cred *c = BPF_CORE_READ((struct task_struct *)bpf_get_current_task(), cred);

	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	pend(P_CRED, 0, BPF_CORE_READ(c, uid.val), BPF_CORE_READ(c, euid.val), 0, 0, 0);
	return 0;
}

static __always_inline int exit_cred(struct trace_event_raw_sys_exit *ctx)
{
	struct rtg_pending p;

	if (take(P_CRED, &p))
		return 0;
	/* syscalls/sys_exit_* store the number as an int: the upper half of `id` is not part of it */
	proc_op(RTG_PROC_CRED, ctx->ret, (__s32)ctx->id, 0, 0, NULL, p.a[0], p.a[1]);
	return 0;
}

#define CRED_PROGS(name)                                                                             \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                                  \
	int rtg_enter_##name(struct trace_event_raw_sys_enter *ctx) { return enter_cred(); }          \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                                   \
	int rtg_exit_##name(struct trace_event_raw_sys_exit *ctx) { return exit_cred(ctx); }

CRED_PROGS(setuid)
CRED_PROGS(setgid)
CRED_PROGS(setreuid)
CRED_PROGS(setregid)
CRED_PROGS(setresuid)
CRED_PROGS(setresgid)

/* ================================================================ mount */

SEC("tracepoint/syscalls/sys_enter_mount")
int rtg_enter_mount(struct trace_event_raw_sys_enter *ctx)
{
	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	pend(P_MOUNT, 0, ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[3], 0);
	return 0;
}

static __always_inline __u32 put_ustr(struct rtg_rec_buf *b, __u32 off, const char *u)
{
	long n;

	char *data = REC_TAIL(b, struct rtg_mount);

	BOUND(off, 2 * RTG_STR_MAX);
	if (!u) {
		data[off] = 0;
		return 1;
	}
	n = bpf_probe_read_user_str(&data[off], RTG_STR_MAX, u);
	if (n <= 0) {
		data[off] = 0;
		return 1;
	}
	return n;
}

SEC("tracepoint/syscalls/sys_exit_mount")
int rtg_exit_mount(struct trace_event_raw_sys_exit *ctx)
{
	struct rtg_pending p;
	struct rtg_rec_buf *b;
	struct rtg_mount *r;
	__u32 off;

	if (take(P_MOUNT, &p))
		return 0;
	b = recbuf();
	if (!b)
		return 0;
	r = (struct rtg_mount *)b;
	__builtin_memset(r, 0, sizeof(*r));
	fill_task(&r->task);
	r->ret = ctx->ret;
	r->flags = p.a[3];
	r->source_len = put_ustr(b, 0, (const char *)p.a[0]);
	off = r->source_len;
	r->target_len = put_ustr(b, off, (const char *)p.a[1]);
	off += r->target_len;
	r->fstype_len = put_ustr(b, off, (const char *)p.a[2]);
	off += r->fstype_len;
	fill_hdr(&r->hdr, RTG_OP_MOUNT, sizeof(*r) + off);
	emit(b, (sizeof(*r) + off) & 0x7ff);
	return 0;
}

/* ================================================================ library loads */

#define PROT_EXEC_ 0x4

/* Libraries already reported, per cgroup and file version. */
struct rtg_lib_key {
	__u64 cgroup_id;
	__u64 ino;
	__s64 mtime_ns;
	__s64 ctime_ns;
	__u32 dev;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct rtg_lib_key);
	__type(value, __u8);
} rtg_libs_seen SEC(".maps");

/*
 * mmap(PROT_EXEC) of a file: ld.so maps each library's text this way (MAP_FIXED over its first,
 * read-only mapping). Only files on an overlay's upper layer are reported (written in the
 * container after it started), each once per cgroup and version: the check order is cheapest
 * first, so the common case (anonymous or non-exec mappings, lower-layer libraries) costs a few
 * loads.
 */
/* Report the file (overlay inode `ino` at dentry `d` on mount `m`) mapped executable if it is on
 * the overlay's upper layer, once per (cgroup, version). */
static __always_inline void lib_mapped(struct inode *ino, struct dentry *d, struct vfsmount *m, __u64 prot,
				       __u64 mmap_flags)
{
	struct rtg_lib_key key = {};
	struct task_struct *t;
	struct rtg_rec_buf *b;
	struct rtg_pathbuf *pb;
	struct rtg_lib *r;
	__u16 hflags = 0;
	__u32 pos, len;
	__u8 one = 1;

	if (!ino || !exe_on_upper(ino))
		return;
	key.cgroup_id = bpf_get_current_cgroup_id();
	key.ino = ino->i_ino;
	key.dev = ino->i_sb->s_dev;
	key.mtime_ns = inode_mtime_ns(ino);
	key.ctime_ns = inode_ctime_ns(ino);
	if (bpf_map_update_elem(&rtg_libs_seen, &key, &one, BPF_NOEXIST))
		return; /* reported before (or a concurrent mapping reports it) */
	b = recbuf();
	pb = pathbuf(0);
	if (!b || !pb)
		return;
	t = bpf_get_current_task_btf();
	pos = walk_path(d, m, t->fs->root.dentry, t->fs->root.mnt, 0, pb, &hflags);
	pos &= RTG_PATH_MAX - 1;
	len = RTG_PATH_MAX - pos;
	r = (struct rtg_lib *)b;
	fill_task(&r->task);
	r->cgroup_id = key.cgroup_id;
	r->ino = key.ino;
	r->mtime_ns = key.mtime_ns;
	r->dev = key.dev;
	r->prot = prot;
	r->mmap_flags = mmap_flags;
	r->_pad0 = 0;
	if (len > RTG_PATH_MAX || bpf_probe_read_kernel(REC_TAIL(b, struct rtg_lib), len, &pb->buf[pos]))
		len = 0;
	r->path_len = len;
	fill_hdr(&r->hdr, RTG_OP_LIB, sizeof(*r) + len);
	r->hdr.flags = hflags;
	emit(b, (sizeof(*r) + len) & 0x7ff);
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int rtg_enter_mmap(struct trace_event_raw_sys_enter *ctx)
{
	__u64 prot = ctx->args[2];
	__s64 fd = (__s64)ctx->args[4];
	struct file *f;

	if (!(prot & PROT_EXEC_) || fd < 0 || ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	f = cur_fd_file(fd);
	if (f)
		lib_mapped(f->f_inode, f->f_path.dentry, f->f_path.mnt, prot, ctx->args[3]);
	return 0;
}

struct vma_file_ctx {
	__u64 file;
};

static long vma_file_cb(struct task_struct *task, struct vm_area_struct *vma, struct vma_file_ctx *c)
{
	c->file = (__u64)vma->vm_file;
	return 0;
}

/*
 * A mapping's file on an overlay is overlayfs's backing file (the real upper or lower file,
 * embedded in a struct backing_file whose user_path is the overlay path; kernels 6.6+). `fp` is
 * taken for one only if user_path names an overlay inode whose upper inode is the file's own:
 * no mode flag is read (FMODE_BACKING moved between kernel versions).
 */
static __always_inline void lib_from_backing(__u64 fp, __u64 prot)
{
	__u64 real = 0, d = 0, m = 0, oino = 0, upper_d = 0, upper = 0;
	struct inode *oi;

	if (!bpf_core_type_exists(struct backing_file) || !bpf_core_type_exists(struct ovl_inode))
		return;
	bpf_probe_read_kernel(&real, sizeof(real), (void *)(fp + bpf_core_field_offset(struct file, f_inode)));
	bpf_probe_read_kernel(&d, sizeof(d), (void *)(fp + bpf_core_field_offset(struct backing_file, user_path.dentry)));
	bpf_probe_read_kernel(&m, sizeof(m), (void *)(fp + bpf_core_field_offset(struct backing_file, user_path.mnt)));
	if (!real || !d || !m)
		return;
	bpf_probe_read_kernel(&oino, sizeof(oino), (void *)(d + bpf_core_field_offset(struct dentry, d_inode)));
	if (!oino)
		return;
	oi = bpf_rdonly_cast((void *)oino, bpf_core_type_id_kernel(struct inode));
	if (oi->i_sb->s_magic != OVERLAYFS_MAGIC_)
		return;
	bpf_probe_read_kernel(&upper_d, sizeof(upper_d),
			      (void *)(oino - bpf_core_field_offset(struct ovl_inode, vfs_inode) +
				       bpf_core_field_offset(struct ovl_inode, __upperdentry)));
	if (!upper_d)
		return;
	bpf_probe_read_kernel(&upper, sizeof(upper), (void *)(upper_d + bpf_core_field_offset(struct dentry, d_inode)));
	if (upper != real)
		return;
	lib_mapped(oi, bpf_rdonly_cast((void *)d, bpf_core_type_id_kernel(struct dentry)),
		   bpf_rdonly_cast((void *)m, bpf_core_type_id_kernel(struct vfsmount)), prot, 0);
}

/*
 * mprotect(addr, len, PROT_EXEC): a file mapped without exec first and made executable later (a
 * loader that maps, relocates, then flips the protection) is a library load as well. The file is
 * that of the mapping holding `addr` (bpf_find_vma): on an overlay, overlayfs's backing file
 * (lib_from_backing). Anonymous memory (JIT code) has none. Such a record has `mmap_flags` 0.
 */
SEC("tracepoint/syscalls/sys_enter_mprotect")
int rtg_enter_mprotect(struct trace_event_raw_sys_enter *ctx)
{
	struct vma_file_ctx c = {};
	__u64 prot = ctx->args[2];

	if (!(prot & PROT_EXEC_) || ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (bpf_find_vma(bpf_get_current_task_btf(), ctx->args[0], vma_file_cb, &c, 0) || !c.file)
		return 0;
	lib_from_backing(c.file, prot);
	return 0;
}

/* ================================================================ new mount API */

/* What an fs-context or mount fd stands for, per process and fd (fsopen, fspick, fsconfig
 * "source", fsmount, open_tree), so that move_mount can say what it attaches. `file` is a cookie
 * of the struct file the fd held when the entry was made (fd_cookie): after close() the number
 * can name another file, and an entry whose cookie differs is stale (dropped, never used). */
struct rtg_fsctx {
	char fstype[64];
	char source[RTG_STR_MAX];
	__u64 file;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64); /* tgid << 32 | fd */
	__type(value, struct rtg_fsctx);
} rtg_fsctx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rtg_fsctx);
} rtg_fsctx_tmp SEC(".maps");

/*
 * A sys_enter program that only remembers the syscall's first `n` arguments (1..5) for its
 * sys_exit program. Reading an argument the syscall does not have is past the tracepoint's
 * record, which the kernel refuses at attach time (EACCES).
 */
#define ARG(i, n) ((i) < (n) ? ctx->args[i] : 0)
#define PEND_ON_ENTER(sys, kind, n)                                                                  \
	SEC("tracepoint/syscalls/sys_enter_" #sys)                                                   \
	int rtg_enter_##sys(struct trace_event_raw_sys_enter *ctx)                                   \
	{                                                                                            \
		if (ignored(bpf_get_current_pid_tgid() >> 32))                                       \
			return 0;                                                                    \
		pend(kind, 0, ARG(0, n), ARG(1, n), ARG(2, n), ARG(3, n), ARG(4, n));                \
		return 0;                                                                            \
	}

#define FSCONFIG_SET_STRING_ 1
#define OPEN_TREE_CLONE_ 1

static __always_inline __u64 fsctx_key(__s64 fd)
{
	return (bpf_get_current_pid_tgid() & 0xffffffff00000000ULL) | (__u32)fd;
}

/* Identity of an open file: its address alone is not enough (a closed file's slab object is
 * soon reused for the next open), so its operations, private data and dentry are mixed in: a
 * regular file that reuses an fs-context fd's number and memory differs in all three. */
static __always_inline __u64 fd_cookie(__s64 fd)
{
	__u64 fp = fd < 0 ? 0 : cur_fd_file_addr(fd), op = 0, pd = 0, de = 0;

	if (!fp)
		return 0;
	bpf_probe_read_kernel(&op, sizeof(op), (void *)(fp + bpf_core_field_offset(struct file, f_op)));
	bpf_probe_read_kernel(&pd, sizeof(pd), (void *)(fp + bpf_core_field_offset(struct file, private_data)));
	bpf_probe_read_kernel(&de, sizeof(de), (void *)(fp + bpf_core_field_offset(struct file, f_path.dentry)));
	return fp ^ (op << 7) ^ (pd << 13) ^ (de << 3);
}

static __always_inline struct rtg_fsctx *fsctx_of(__s64 fd)
{
	__u64 key = fsctx_key(fd);
	struct rtg_fsctx *c;

	if (fd < 0)
		return NULL;
	c = bpf_map_lookup_elem(&rtg_fsctx, &key);
	if (c && c->file != fd_cookie(fd)) { /* the fd was closed and reused */
		bpf_map_delete_elem(&rtg_fsctx, &key);
		return NULL;
	}
	return c;
}

static __always_inline struct rtg_fsctx *fsctx_tmp(void)
{
	__u32 zero = 0;
	struct rtg_fsctx *c = bpf_map_lookup_elem(&rtg_fsctx_tmp, &zero);

	if (c) {
		c->fstype[0] = 0;
		c->source[0] = 0;
		c->file = 0;
	}
	return c;
}

/* The per-CPU scratch context, its source the path (dfd, upath) names as seen from the task's
 * root (open_tree, fspick); NULL without scratch space. */
static __always_inline struct rtg_fsctx *fsctx_source_at(__s64 dfd, const char *upath)
{
	struct rtg_pathbuf *pb = pathbuf(0);
	struct rtg_fsctx *c = fsctx_tmp();
	__u16 hflags = 0;
	__u32 pos, len;

	if (!pb || !c)
		return NULL;
	pos = resolve_user(dfd, upath, 0, pb, &len, &hflags);
	pos &= RTG_PATH_MAX - 1;
	if (bpf_probe_read_kernel_str(c->source, sizeof(c->source), &pb->buf[pos]) <= 0)
		c->source[0] = 0;
	return c;
}

/* Remember what the new fd `fd` stands for: `c` (the per-CPU scratch entry), tied to its file. */
static __always_inline void fsctx_put(long fd, struct rtg_fsctx *c)
{
	__u64 key;

	if (fd < 0)
		return;
	key = fsctx_key(fd);
	c->file = fd_cookie(fd);
	bpf_map_update_elem(&rtg_fsctx, &key, c, BPF_ANY);
}

static __always_inline __u32 put_kstr(char *dst, const char *k, __u32 max)
{
	long n = k ? bpf_probe_read_kernel_str(dst, max, k) : 0;

	if (n <= 0) {
		dst[0] = 0;
		return 1;
	}
	return n;
}

/* A mount record from kernel strings (map values, path buffers); NULL gives "". */
static __always_inline void mount_rec(__u16 kind, __s32 ret, __u64 flags, const char *src, const char *tgt,
				      const char *fstype)
{
	struct rtg_rec_buf *b = recbuf();
	struct rtg_mount *r;
	char *data;
	__u32 off;

	if (!b)
		return;
	r = (struct rtg_mount *)b;
	data = REC_TAIL(b, struct rtg_mount);
	__builtin_memset(r, 0, sizeof(*r));
	fill_task(&r->task);
	r->ret = ret;
	r->flags = flags;
	r->kind = kind;
	r->source_len = put_kstr(data, src, RTG_STR_MAX);
	off = r->source_len;
	BOUND(off, RTG_STR_MAX);
	r->target_len = put_kstr(&data[off], tgt, RTG_PATH_MAX);
	off += r->target_len;
	BOUND(off, RTG_STR_MAX + RTG_PATH_MAX);
	r->fstype_len = put_kstr(&data[off], fstype, 64);
	off += r->fstype_len;
	BOUND(off, RTG_STR_MAX + RTG_PATH_MAX + 64);
	fill_hdr(&r->hdr, RTG_OP_MOUNT, sizeof(*r) + off);
	emit(b, (sizeof(*r) + off) & 0x7ff);
}

PEND_ON_ENTER(fsopen, P_FSOPEN, 2)

SEC("tracepoint/syscalls/sys_exit_fsopen")
int rtg_exit_fsopen(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	struct rtg_pending p;
	struct rtg_fsctx *c;

	if (take(P_FSOPEN, &p))
		return 0;
	c = fsctx_tmp();
	if (!c)
		return 0;
	if (bpf_probe_read_user_str(c->fstype, sizeof(c->fstype), (const char *)p.a[0]) <= 0)
		c->fstype[0] = 0;
	fsctx_put(ret, c);
	mount_rec(RTG_MOUNT_FSOPEN, ret, p.a[1], NULL, NULL, c->fstype);
	return 0;
}

/* fsconfig(fd, FSCONFIG_SET_STRING, "source", value): the context's source. */
SEC("tracepoint/syscalls/sys_enter_fsconfig")
int rtg_enter_fsconfig(struct trace_event_raw_sys_enter *ctx)
{
	char key[8] = {};

	if (ctx->args[1] != FSCONFIG_SET_STRING_ || ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (bpf_probe_read_user(key, 7, (const void *)ctx->args[2]) || key[0] != 's' || key[1] != 'o' ||
	    key[2] != 'u' || key[3] != 'r' || key[4] != 'c' || key[5] != 'e' || key[6] != 0)
		return 0;
	pend(P_FSCONFIG, 0, ctx->args[0], ctx->args[3], ctx->args[1], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fsconfig")
int rtg_exit_fsconfig(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	struct rtg_pending p;
	struct rtg_fsctx *c, *t;

	if (take(P_FSCONFIG, &p))
		return 0;
	c = fsctx_of(p.a[0]);
	if (ret == 0) {
		if (c && bpf_probe_read_user_str(c->source, sizeof(c->source), (const char *)p.a[1]) <= 0)
			c->source[0] = 0;
		return 0;
	}
	t = fsctx_tmp();
	if (!t)
		return 0;
	if (bpf_probe_read_user_str(t->source, sizeof(t->source), (const char *)p.a[1]) <= 0)
		t->source[0] = 0;
	mount_rec(RTG_MOUNT_FSCONFIG, ret, p.a[2], t->source, NULL, c ? c->fstype : NULL);
	return 0;
}

PEND_ON_ENTER(fsmount, P_FSMOUNT, 3)

SEC("tracepoint/syscalls/sys_exit_fsmount")
int rtg_exit_fsmount(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	struct rtg_pending p;
	struct rtg_fsctx *c, *t;

	if (take(P_FSMOUNT, &p))
		return 0;
	c = fsctx_of(p.a[0]);
	t = fsctx_tmp();
	if (c && t) {
		bpf_probe_read_kernel(t, sizeof(*t), c);
		fsctx_put(ret, t);
	}
	mount_rec(RTG_MOUNT_FSMOUNT, ret, p.a[2], c ? c->source : NULL, NULL, c ? c->fstype : NULL);
	return 0;
}

/* open_tree(dfd, path, OPEN_TREE_CLONE): a detached copy of a tree (a bind mount to be). */
SEC("tracepoint/syscalls/sys_enter_open_tree")
int rtg_enter_open_tree(struct trace_event_raw_sys_enter *ctx)
{
	if (!(ctx->args[2] & OPEN_TREE_CLONE_) || ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	pend(P_OPEN_TREE, 0, ctx->args[0], ctx->args[1], ctx->args[2], 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open_tree")
int rtg_exit_open_tree(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	struct rtg_pending p;
	struct rtg_fsctx *c;

	if (take(P_OPEN_TREE, &p))
		return 0;
	c = fsctx_source_at(p.a[0], (const char *)p.a[1]);
	if (!c)
		return 0;
	fsctx_put(ret, c);
	mount_rec(RTG_MOUNT_OPEN_TREE, ret, p.a[2], c->source, NULL, NULL);
	return 0;
}

/* fspick(dfd, path, flags): an fs-context fd for an existing superblock, to reconfigure it
 * (fsconfig FSCONFIG_CMD_RECONFIGURE, e.g. read-only to read-write). */
PEND_ON_ENTER(fspick, P_FSPICK, 3)

SEC("tracepoint/syscalls/sys_exit_fspick")
int rtg_exit_fspick(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	struct rtg_pending p;
	struct rtg_fsctx *c;
	struct fs_context *fc;
	struct file *f;
	const char *name;

	if (take(P_FSPICK, &p))
		return 0;
	c = fsctx_source_at(p.a[0], (const char *)p.a[1]);
	if (!c)
		return 0;
	if (ret >= 0) {
		f = cur_fd_file(ret);
		fc = f ? (struct fs_context *)BPF_CORE_READ(f, private_data) : NULL;
		name = fc ? BPF_CORE_READ(fc, fs_type, name) : NULL;
		if (!name || bpf_probe_read_kernel_str(c->fstype, sizeof(c->fstype), name) <= 0)
			c->fstype[0] = 0;
	}
	fsctx_put(ret, c);
	mount_rec(RTG_MOUNT_FSPICK, ret, p.a[2], c->source, NULL, c->fstype);
	return 0;
}

/* mount_setattr(dfd, path, flags, uattr, size): changes a mount's attributes (read-only,
 * nosuid, idmap, propagation). The attributes are read at entry, while uattr is the caller's. */
SEC("tracepoint/syscalls/sys_enter_mount_setattr")
int rtg_enter_mount_setattr(struct trace_event_raw_sys_enter *ctx)
{
	__u64 attr[2] = {};

	if (ignored(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (ctx->args[4] >= sizeof(attr))
		bpf_probe_read_user(attr, sizeof(attr), (const void *)ctx->args[3]);
	pend(P_SETATTR, 0, ctx->args[0], ctx->args[1], (attr[0] & 0xffffffffULL) | (attr[1] << 32), 0, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mount_setattr")
int rtg_exit_mount_setattr(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	struct rtg_pending p;
	struct rtg_pathbuf *pb;
	struct rtg_fsctx *c;
	__u16 hflags = 0;
	__u32 pos, len;

	if (take(P_SETATTR, &p))
		return 0;
	pb = pathbuf(1);
	if (!pb)
		return 0;
	c = fsctx_of(p.a[0]);
	pos = resolve_user(p.a[0], (const char *)p.a[1], 1, pb, &len, &hflags);
	mount_rec(RTG_MOUNT_SETATTR, ret, p.a[2], c ? c->source : NULL, &pb->buf[pos & (RTG_PATH_MAX - 1)],
		  c ? c->fstype : NULL);
	return 0;
}

/* move_mount(from_dfd, from_path, to_dfd, to_path, flags): attaches a mount; what it is comes
 * from the fd's tracked context (fsmount/open_tree), else from the source path. */
PEND_ON_ENTER(move_mount, P_MOVE_MOUNT, 5)

SEC("tracepoint/syscalls/sys_exit_move_mount")
int rtg_exit_move_mount(struct trace_event_raw_sys_exit *ctx)
{
	long ret = ctx->ret;
	struct rtg_pending p;
	struct rtg_pathbuf *pb, *pb2;
	struct rtg_fsctx *c;
	const char *src = NULL;
	__u16 hflags = 0;
	__u32 pos, len;

	if (take(P_MOVE_MOUNT, &p))
		return 0;
	pb = pathbuf(0);
	pb2 = pathbuf(1);
	if (!pb || !pb2)
		return 0;
	c = fsctx_of(p.a[0]);
	if (c) {
		src = c->source;
	} else {
		pos = resolve_user(p.a[0], (const char *)p.a[1], 0, pb, &len, &hflags);
		src = &pb->buf[pos & (RTG_PATH_MAX - 1)];
	}
	pos = resolve_user(p.a[2], (const char *)p.a[3], 1, pb2, &len, &hflags);
	mount_rec(RTG_MOUNT_MOVE, ret, p.a[4], src, &pb2->buf[pos & (RTG_PATH_MAX - 1)], c ? c->fstype : NULL);
	return 0;
}
