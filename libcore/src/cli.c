/* cli.c: subcommand dispatch, common options, aligned help and usage errors for every program. */
#include "moecore/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moecore/log.h"
#include "moecore/version.h"
#include "moecore/threads.h"

enum { C_DB, C_JSON, C_QUIET, C_VERBOSE, C_THREADS, C_DEVICE, C_SEED, C_METRICS, C_HELP, C_VERSION, C_COUNT };

static const mc_option common_options[C_COUNT] = {
    [C_DB] = {"db", 0, "PATH", "results database ($MOESUITE_DB overrides the default)", MC_DEFAULT_DB},
    [C_JSON] = {"json", 0, NULL, "results as JSON lines on stdout, messages as JSON on stderr", NULL},
    [C_QUIET] = {"quiet", 'q', NULL, "errors only on stderr", NULL},
    [C_VERBOSE] = {"verbose", 'v', NULL, "more detail on stderr (repeatable)", NULL},
    [C_THREADS] = {"threads", 0, "N", "CPU threads for everything (0 = the cores other processes leave free)", "0"},
    [C_DEVICE] = {"device", 0, "cpu|cuda|auto",
                  "compute device; the networks run on the CPU in this version: auto uses the CPU, cuda is an error",
                  "auto"},
    [C_SEED] = {"seed", 0, "N", "seed of every random choice", "42"},
    [C_METRICS] = {"metrics-dir", 0, "DIR", "write Prometheus textfile metrics to DIR/PROGRAM.prom", NULL},
    [C_HELP] = {"help", 'h', NULL, "show this help and exit", NULL},
    [C_VERSION] = {"version", 0, NULL, "show version and build configuration and exit", NULL},
};

/* ---- help ---------------------------------------------------------------------------------- */

static int option_label(char *buf, size_t size, const mc_option *o) {
    char shortpart[8] = "    ";
    if (o->short_name) snprintf(shortpart, sizeof shortpart, "-%c, ", o->short_name);
    return snprintf(buf, size, "  %s--%s%s%s", shortpart, o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

static int label_width(const mc_option *opts, int n, int width) {
    char buf[256];
    for (int i = 0; i < n; i++) {
        int w = option_label(buf, sizeof buf, &opts[i]);
        if (w > width) width = w;
    }
    return width;
}

static void print_options(FILE *f, const char *title, const mc_option *opts, int n, int width) {
    fprintf(f, "%s:\n", title);
    char buf[256];
    for (int i = 0; i < n; i++) {
        option_label(buf, sizeof buf, &opts[i]);
        fprintf(f, "%-*s  %s", width, buf, opts[i].help);
        if (opts[i].default_value) fprintf(f, " (default: %s)", opts[i].default_value);
        fputc('\n', f);
    }
}

static void print_exit_codes(FILE *f) {
    fprintf(f, "Exit status: 0 every input done, 1 failure, 2 usage error, 3 some inputs rejected.\n");
}

static void program_help(FILE *f, const mc_program *prog) {
    fprintf(f, "Usage: %s [common options] COMMAND [options] [arguments]\n\n%s\n\n", prog->name, prog->summary);
    if (prog->n_commands == 0) {
        fprintf(f, "Commands: none in this version.\n\n");
    } else {
        int w = 4;
        for (int i = 0; i < prog->n_commands; i++) {
            int l = (int)strlen(prog->commands[i].name);
            if (l > w) w = l;
        }
        fprintf(f, "Commands:\n");
        for (int i = 0; i < prog->n_commands; i++)
            fprintf(f, "  %-*s  %s\n", w, prog->commands[i].name, prog->commands[i].summary);
        fprintf(f, "  %-*s  %s\n\n", w, "help", "show the help of a command: help COMMAND");
    }
    print_options(f, "Common options", common_options, C_COUNT, label_width(common_options, C_COUNT, 0));
    fprintf(f, "\nRun '%s COMMAND --help' for a command's own options.\n", prog->name);
    print_exit_codes(f);
}

static void command_help(FILE *f, const mc_ctx *ctx, const mc_cli_spec *spec) {
    fprintf(f, "Usage: %s %s %s\n\n", ctx->program, ctx->command, spec->usage);
    if (spec->description) fprintf(f, "%s\n\n", spec->description);
    int w = label_width(spec->options, spec->n_options, label_width(common_options, C_COUNT, 0));
    if (spec->n_options > 0) {
        print_options(f, "Options", spec->options, spec->n_options, w);
        fputc('\n', f);
    }
    print_options(f, "Common options", common_options, C_COUNT, w);
    print_exit_codes(f);
}

static void print_version(const char *program) {
    char dev[256];
    mc_cuda_describe(dev, sizeof dev);
    printf("%s %s\nbuild: %s\ndevice: %s\n", program, mc_version(), mc_build_info(), dev);
}

/* ---- errors and values ----------------------------------------------------------------------- */

static void usage_line(const char *program, const char *command, const char *msg) {
    if (command)
        fprintf(stderr, "%s %s: %s (see '%s %s --help')\n", program, command, msg, program, command);
    else
        fprintf(stderr, "%s: %s (see '%s --help')\n", program, msg, program);
}

int mc_cli_usage_error(const mc_ctx *ctx, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    usage_line(ctx->program, ctx->command, msg);
    return -1;
}

int mc_cli_int(const mc_ctx *ctx, const char *name, const char *arg, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(arg ? arg : "", &end, 10);
    if (!arg || *arg == '\0' || *end != '\0' || errno == ERANGE || v < lo || v > hi)
        return mc_cli_usage_error(ctx, "--%s expects an integer from %ld to %ld, got '%s'", name, lo, hi, arg ? arg : "");
    *out = v;
    return 0;
}

int mc_cli_real(const mc_ctx *ctx, const char *name, const char *arg, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(arg ? arg : "", &end);
    if (!arg || *arg == '\0' || *end != '\0' || errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return mc_cli_usage_error(ctx, "--%s expects a number from %g to %g, got '%s'", name, lo, hi, arg ? arg : "");
    *out = v;
    return 0;
}

/* ---- stdout ---------------------------------------------------------------------------------- */

static int stdout_gone; /* its reader closed it; stdout now writes to /dev/null */

/* Whether the reader of fd has gone: the write end of a pipe with no reader polls as an error. */
static int reader_gone(int fd) {
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

int mc_cli_stdout_closed(int flush) {
    if (stdout_gone) return 1;
    if (!flush && !ferror(stdout)) return 0;
    errno = 0;
    int gone = fflush(stdout) != 0 ? errno == EPIPE : ferror(stdout) && reader_gone(STDOUT_FILENO);
    if (!gone) return 0;
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0 && fd != STDOUT_FILENO) {
        dup2(fd, STDOUT_FILENO);
        close(fd);
    }
    clearerr(stdout);
    stdout_gone = 1;
    return 1;
}

void mc_cli_print_json(json_t *obj) { mc_cli_print_json_digits(obj, 17); }

void mc_cli_print_json_digits(json_t *obj, int digits) {
    if (mc_cli_stdout_closed(0)) {
        json_decref(obj);
        return;
    }
    char *line = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(digits < 1 ? 1 : digits > 17 ? 17 : digits));
    if (line) {
        fputs(line, stdout);
        fputc('\n', stdout);
        free(line);
    }
    json_decref(obj);
}

/* ---- parsing --------------------------------------------------------------------------------- */

/* Applies one common option to ctx. Returns 0, 1 when the program must exit 0 (help/version was
 * printed by the caller), or -1 on a bad value. */
static int apply_common(mc_ctx *ctx, int which, const char *arg) {
    long v;
    switch (which) {
    case C_DB: ctx->db_path = arg; return 0;
    case C_JSON: ctx->json = 1; return 0;
    case C_QUIET: ctx->verbosity = -1; return 0;
    case C_VERBOSE: ctx->verbosity = ctx->verbosity < 0 ? 1 : ctx->verbosity + 1; return 0;
    case C_THREADS:
        if (mc_cli_int(ctx, "threads", arg, 0, 4096, &v) != 0) return -1;
        ctx->threads = (int)v;
        return 0;
    case C_DEVICE:
        if (mc_device_parse(arg, &ctx->device) != 0)
            return mc_cli_usage_error(ctx, "--device expects cpu, cuda or auto, got '%s'", arg);
        return 0;
    case C_SEED: {
        char *end;
        errno = 0;
        unsigned long long s = strtoull(arg, &end, 10);
        if (*arg == '\0' || *arg == '-' || *end != '\0' || errno == ERANGE)
            return mc_cli_usage_error(ctx, "--seed expects a non-negative integer, got '%s'", arg);
        ctx->seed = (uint64_t)s;
        return 0;
    }
    case C_METRICS: ctx->metrics_dir = arg; return 0;
    default: return 1;
    }
}

/* Builds the getopt tables for common + own options. Index i < C_COUNT is common; i >= C_COUNT is
 * own option i - C_COUNT. getopt_long returns 1000 + index for long options. */
typedef struct {
    struct option longs[C_COUNT + 64 + 1];
    char shorts[3 * (C_COUNT + 64) + 3];
    const mc_option *opt[C_COUNT + 64];
    int n;
} opt_table;

static int build_table(opt_table *t, const mc_option *own, int n_own, int stop_at_command) {
    if (n_own > 64) return -1;
    t->n = 0;
    int s = 0;
    t->shorts[s++] = stop_at_command ? '+' : ':';
    if (stop_at_command) t->shorts[s++] = ':';
    for (int i = 0; i < C_COUNT + n_own; i++) {
        const mc_option *o = i < C_COUNT ? &common_options[i] : &own[i - C_COUNT];
        t->opt[i] = o;
        t->longs[i] = (struct option){o->name, o->arg ? required_argument : no_argument, NULL, 1000 + i};
        if (o->short_name) {
            t->shorts[s++] = (char)o->short_name;
            if (o->arg) t->shorts[s++] = ':';
        }
        t->n++;
    }
    t->longs[t->n] = (struct option){0, 0, 0, 0};
    t->shorts[s] = '\0';
    return 0;
}

static int index_of_short(const opt_table *t, int c) {
    for (int i = 0; i < t->n; i++)
        if (t->opt[i]->short_name == c) return i;
    return -1;
}

/* Reports a getopt error (c is '?' or ':') for argv[optind - 1]. */
static int getopt_error(const mc_ctx *ctx, int c, char **argv) {
    const char *word = argv[optind - 1];
    if (c == ':') return mc_cli_usage_error(ctx, "option '%s' needs an argument", word);
    if (optopt && word[0] == '-' && word[1] != '-')
        return mc_cli_usage_error(ctx, "unknown option '-%c'", optopt);
    return mc_cli_usage_error(ctx, "unknown option '%s'", word);
}

/* The next option of argv by its index in t; NO_MORE after the last, BAD_OPTION once a getopt error
 * has been reported. Parsing starts again from the first argument after optind = 0. */
enum { NO_MORE = -1, BAD_OPTION = -2 };
static int next_option(const opt_table *t, const mc_ctx *ctx, int argc, char **argv) {
    int li, c = getopt_long(argc, argv, t->shorts, t->longs, &li);
    if (c == -1) return NO_MORE;
    int i = c >= 1000 ? c - 1000 : (c == '?' || c == ':') ? -1 : index_of_short(t, c);
    if (i < 0) {
        getopt_error(ctx, c, argv);
        return BAD_OPTION;
    }
    return i;
}

/* After parsing: logging, threads, device. Returns 0 or an exit code > 0. */
static int finish_setup(mc_ctx *ctx, const mc_cli_spec *spec) {
    mc_log_level lvl = ctx->verbosity < 0 ? MC_LOG_ERROR : ctx->verbosity == 0 ? MC_LOG_INFO : MC_LOG_DEBUG;
    mc_log_setup(ctx->program, lvl, ctx->json);
    mc_threads_init(ctx->threads, !spec->trains);
    mc_error err;
    mc_device_kind requested = ctx->device;
    if (mc_device_resolve(requested, &ctx->device, &err) != MC_OK) {
        mc_log_error("%s", err.msg);
        return MC_EXIT_FAILURE;
    }
    /* The CUDA backend's layers (nn_cuda.h) are not yet behind mc_model: the programs' networks
     * run on the CPU, and a command never claims a GPU it does not use. */
    if (ctx->device == MC_DEVICE_CUDA) {
        if (requested == MC_DEVICE_CUDA) {
            mc_log_error("--device cuda: this version runs its networks on the CPU only (use --device cpu or auto)");
            return MC_EXIT_FAILURE;
        }
        mc_log_debug("a CUDA device is present; this version runs its networks on the CPU");
        ctx->device = MC_DEVICE_CPU;
    }
    return 0;
}

int mc_cli_parse(mc_ctx *ctx, const mc_cli_spec *spec, int argc, char **argv, mc_option_fn on_option,
                 void *user, int *exit_code) {
    opt_table t;
    if (build_table(&t, spec->options, spec->n_options, 0) != 0) {
        *exit_code = MC_EXIT_FAILURE;
        return -1;
    }
    *exit_code = MC_EXIT_USAGE;
    optind = 0;
    opterr = 0;
    int i;
    while ((i = next_option(&t, ctx, argc, argv)) != NO_MORE) {
        if (i == BAD_OPTION) return -1;
        if (i == C_HELP) {
            command_help(stdout, ctx, spec);
            *exit_code = MC_EXIT_OK;
            return -1;
        }
        if (i == C_VERSION) {
            print_version(ctx->program);
            *exit_code = MC_EXIT_OK;
            return -1;
        }
        if (i < C_COUNT) {
            if (apply_common(ctx, i, optarg) != 0) return -1;
        } else if (on_option && on_option(ctx, user, i - C_COUNT, optarg) != 0) {
            return -1;
        }
    }
    int npos = argc - optind;
    if (npos < spec->min_args) {
        mc_cli_usage_error(ctx, "expected %s%d argument%s, got %d", spec->max_args == spec->min_args ? "" : "at least ",
                           spec->min_args, spec->min_args == 1 ? "" : "s", npos);
        return -1;
    }
    if (spec->max_args >= 0 && npos > spec->max_args) {
        mc_cli_usage_error(ctx, "unexpected argument '%s'", argv[optind + spec->max_args]);
        return -1;
    }
    int rc = finish_setup(ctx, spec);
    if (rc != 0) {
        *exit_code = rc;
        return -1;
    }
    *exit_code = MC_EXIT_OK;
    return optind;
}

int mc_cli_main(const mc_program *prog, int argc, char **argv) {
    const char *env_db = getenv("MOESUITE_DB");
    mc_ctx ctx = {
        .program = prog->name,
        .db_path = env_db && *env_db ? env_db : MC_DEFAULT_DB,
        .seed = MC_DEFAULT_SEED,
        .device = MC_DEVICE_AUTO,
        .argc = argc,
        .argv = argv,
    };
    mc_log_setup(prog->name, MC_LOG_INFO, 0);
    /* a reader that closes stdout early (a pipe into head) makes writes fail with EPIPE rather
     * than kill the process in the middle of a run: mc_cli_stdout_closed */
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, NULL);
    opt_table t;
    build_table(&t, NULL, 0, 1);
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = next_option(&t, &ctx, argc, argv)) != NO_MORE) {
        if (opt == BAD_OPTION) return MC_EXIT_USAGE;
        if (opt == C_HELP) {
            program_help(stdout, prog);
            return MC_EXIT_OK;
        }
        if (opt == C_VERSION) {
            print_version(prog->name);
            return MC_EXIT_OK;
        }
        if (apply_common(&ctx, opt, optarg) != 0) return MC_EXIT_USAGE;
    }
    if (optind >= argc) {
        usage_line(prog->name, NULL, "missing command");
        return MC_EXIT_USAGE;
    }
    const char *name = argv[optind];
    int help_of = 0;
    if (strcmp(name, "help") == 0) {
        if (optind + 1 >= argc) {
            program_help(stdout, prog);
            return MC_EXIT_OK;
        }
        name = argv[optind + 1];
        help_of = 1;
    }
    for (int i = 0; i < prog->n_commands; i++) {
        const mc_command *cmd = &prog->commands[i];
        if (strcmp(cmd->name, name) != 0) continue;
        ctx.command = cmd->name;
        if (help_of) {
            char *help_argv[] = {(char *)cmd->name, "--help", NULL};
            return cmd->run(&ctx, 2, help_argv);
        }
        return cmd->run(&ctx, argc - optind, argv + optind);
    }
    char msg[512];
    snprintf(msg, sizeof msg, "unknown command '%s'", name);
    usage_line(prog->name, NULL, msg);
    return MC_EXIT_USAGE;
}
