// Copied from the project's shared tools (shared/tools/xdptools-shim.c) so that the benchmark's generator stage
// (bench/src/e2e/generator.rs, which embeds this file and compiles it at run time) works
// from a checkout; build: clang-22 -shared -fPIC -O2 -o xdptools-shim.so xdptools-shim.c -ldl -lbpf
// LD_PRELOAD shim for Debian bookworm xdp-tools 1.3.1 on kernels >= 6.x where some
// tracepoints (e.g. xdp_redirect_map_err) were removed: before a skeleton is loaded,
// disable autoload of every tp_btf/ program whose tracepoint is absent from vmlinux BTF.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

static struct btf *vmlinux;

static void prune(struct bpf_object *obj)
{
	struct bpf_program *prog;
	if (!vmlinux) vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) return;
	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		if (!sec || strncmp(sec, "tp_btf/", 7)) continue;
		char tn[256];
		snprintf(tn, sizeof tn, "btf_trace_%s", sec + 7);
		if (btf__find_by_name_kind(vmlinux, tn, BTF_KIND_TYPEDEF) < 0) {
			if (getenv("TPSHIM_VERBOSE"))
				fprintf(stderr, "tpshim: disabling %s (%s not in kernel)\n",
					bpf_program__name(prog), sec);
			bpf_program__set_autoload(prog, false);
		}
	}
}

int bpf_object__load_skeleton(struct bpf_object_skeleton *s)
{
	static int (*real)(struct bpf_object_skeleton *);
	if (!real) real = dlsym(RTLD_NEXT, "bpf_object__load_skeleton");
	prune(*s->obj);
	return real(s);
}

int bpf_object__load(struct bpf_object *obj)
{
	static int (*real)(struct bpf_object *);
	if (!real) real = dlsym(RTLD_NEXT, "bpf_object__load");
	prune(obj);
	return real(obj);
}

/* xdp-trafficgen 1.3.1 probes BPF_PROG_RUN live-frame mode with a 4-byte packet;
 * newer kernels reject XDP test runs shorter than an Ethernet header with EINVAL,
 * which the tool misreports as "no live packet mode". Pad such probes to 64 bytes
 * (the probe program is xdp_drop, so nothing is transmitted). */
int bpf_prog_test_run_opts(int prog_fd, struct bpf_test_run_opts *opts)
{
	static int (*real)(int, struct bpf_test_run_opts *);
	static unsigned char pad[64];
	if (!real) real = dlsym(RTLD_NEXT, "bpf_prog_test_run_opts");
	if (opts && opts->data_in && opts->data_size_in < 14 &&
	    (opts->flags & BPF_F_TEST_XDP_LIVE_FRAMES)) {
		struct xdp_md *md = (struct xdp_md *)opts->ctx_in;
		opts->data_in = pad;
		opts->data_size_in = sizeof(pad);
		if (md && opts->ctx_size_in >= sizeof(*md)) md->data_end = sizeof(pad);
		if (getenv("TPSHIM_VERBOSE"))
			fprintf(stderr, "tpshim: padded live-frame probe to 64 bytes\n");
	}
	return real(prog_fd, opts);
}
