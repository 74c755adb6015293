// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/*
 * rtguard kernel sensor, part 1: process lifecycle (exec with argv, fork, exit).
 *
 * CO-RE, tp_btf hooks only (no fentry, LSM or kprobes: they do not load on our kernels, see
 * docs platform notes), so no tracefs is needed to attach. Records are defined in rtguard.h.
 * Records go to one ring buffer with BPF_RB_NO_WAKEUP: user space drains it on a timer, which
 * keeps the exec-storm overhead near 1% instead of ~11% with a wakeup per record. A wakeup is
 * forced only when the ring holds more than rtg_cfg.wakeup_bytes, so a burst cannot overflow
 * it while the consumer sleeps. Every record that does not fit is counted in rtg_counters.
 *
 * What this program must NOT do: block, loop without a bound, or send records user space did
 * not ask for (threads, the agent's own exec and exit).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "rtguard.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space between open and load (rodata; the verifier sees them as constants). */
const volatile struct rtg_config rtg_cfg = {
	.ignore_tgid = 0,
	.max_args_bytes = RTG_ARGS_MAX,
	.wakeup_bytes = 0,
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

/* NO_WAKEUP normally; a forced wakeup once the ring is filling up. */
static __always_inline __u64 submit_flags(void)
{
	__u64 limit = rtg_cfg.wakeup_bytes;

	if (limit && bpf_ringbuf_query(&rtg_events, BPF_RB_AVAIL_DATA) >= limit) {
		count(RTG_CNT_WAKEUPS);
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
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

SEC("tp_btf/sched_process_exec")
int BPF_PROG(rtg_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 zero = 0, off, depth = 0, max_args;
	struct rtg_exec_buf *b;
	struct rtg_exec *e;
	struct kernfs_node *kn;
	struct mm_struct *mm;
	struct inode *ino;
	struct task_struct *parent;
	const struct cred *cred;
	unsigned long a_start, a_end, a_size;
	__u16 flags = 0;
	__u64 size;
	long n;
	int i;

	if (tgid == rtg_cfg.ignore_tgid)
		return 0;
	b = bpf_map_lookup_elem(&rtg_scratch, &zero);
	if (!b)
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
	e->_pad0 = 0;

	mm = p->mm;
	ino = mm->exe_file->f_inode;
	if (ino) {
		e->exe_ino = ino->i_ino;
		e->exe_dev = ino->i_sb->s_dev;
		e->exe_mtime_ns = inode_mtime_ns(ino);
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
	if (off > CGROUP_END)
		off = CGROUP_END; /* never taken; bounds `off` for the verifier */
	if (a_size > 0 && a_size <= RTG_ARGS_MAX) {
		if (bpf_probe_read_user(&b->data[off], a_size, (const void *)a_start) == 0)
			e->args_len = a_size;
		else
			flags |= RTG_F_ARGS_FAULT;
	}

	size = sizeof(*e) + off + e->args_len;
	if (size > sizeof(*b))
		size = sizeof(*b);
	fill_hdr(&e->hdr, RTG_OP_EXEC, size);
	e->hdr.flags = flags;
	if (bpf_ringbuf_output(&rtg_events, b, size, submit_flags()))
		count(RTG_CNT_LOST_RINGBUF_FULL);
	else
		count(RTG_CNT_EMITTED);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(rtg_fork, struct task_struct *cur, struct task_struct *child)
{
	struct task_struct *parent;
	struct rtg_fork *r;

	if (child->pid != child->tgid)
		return 0; /* a thread, not a process */
	r = bpf_ringbuf_reserve(&rtg_events, sizeof(*r), 0);
	if (!r) {
		count(RTG_CNT_LOST_RINGBUF_FULL);
		return 0;
	}
	fill_hdr(&r->hdr, RTG_OP_FORK, sizeof(*r));
	parent = child->real_parent;
	r->parent_pid = parent->tgid;
	r->child_pid = child->tgid;
	r->parent_start_boottime = parent->group_leader->start_boottime;
	r->child_start_boottime = child->start_boottime;
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
	r = bpf_ringbuf_reserve(&rtg_events, sizeof(*r), 0);
	if (!r) {
		count(RTG_CNT_LOST_RINGBUF_FULL);
		return 0;
	}
	fill_hdr(&r->hdr, RTG_OP_EXIT, sizeof(*r));
	r->pid = tgid;
	r->exit_code = p->exit_code;
	r->start_boottime = p->group_leader->start_boottime;
	bpf_ringbuf_submit(r, submit_flags());
	count(RTG_CNT_EMITTED);
	return 0;
}
