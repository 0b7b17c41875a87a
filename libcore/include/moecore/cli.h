/* cli.h: the command-line plumbing every program shares: git-style subcommands, the common
 * options, aligned --help with defaults, --version, and the exit codes of GUIDE.md section 6.
 *
 *   moe-finance [common options] COMMAND [options] [arguments]
 *
 * Common options are accepted before and after the command. A command's function receives the
 * parsed context and its own arguments (argv[0] is the command's name) and returns an exit code. */
#ifndef MOECORE_CLI_H
#define MOECORE_CLI_H

#include <jansson.h>
#include <stdint.h>

#include "moecore/device.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    MC_EXIT_OK = 0,       /* every input done */
    MC_EXIT_FAILURE = 1,  /* the command failed */
    MC_EXIT_USAGE = 2,    /* bad command line */
    MC_EXIT_PARTIAL = 3   /* finished, but some inputs were rejected (named on stderr and in input_errors) */
};

#define MC_DEFAULT_DB "moesuite.db"
#define MC_DEFAULT_SEED 42

/* What the common options set, for the whole invocation. */
typedef struct mc_ctx {
    const char *program;     /* "moe-finance" */
    const char *command;     /* the subcommand, NULL before dispatch */
    const char *db_path;     /* --db, else $MOESUITE_DB, else MC_DEFAULT_DB */
    const char *metrics_dir; /* --metrics-dir, or NULL */
    int json;                /* --json: results as JSON lines on stdout, logs as JSON on stderr */
    int verbosity;           /* -1 with -q, 0 by default, +1 per -v */
    int threads;             /* --threads, 0 = follow the free cores (threads.h) */
    mc_device_kind device;   /* --device; resolved by mc_cli_parse (never MC_DEVICE_AUTO after it) */
    uint64_t seed;           /* --seed */
    int argc;                /* the whole command line, recorded in the runs table */
    char **argv;
} mc_ctx;

/* One option of a command. */
typedef struct mc_option {
    const char *name;          /* long name without dashes: "window" for --window */
    int short_name;            /* a letter, or 0 */
    const char *arg;           /* placeholder of its argument ("N", "PATH"), NULL for a flag */
    const char *help;          /* one line */
    const char *default_value; /* shown in --help as "(default: ...)", or NULL */
} mc_option;

/* What a command accepts, for parsing and for its --help. */
typedef struct mc_cli_spec {
    const char *usage;         /* after "moe-finance factors ": "[options] FILE..." */
    const char *description;   /* a paragraph printed under the usage line */
    const mc_option *options;  /* the command's own options */
    int n_options;
    int min_args;              /* positional arguments required */
    int max_args;              /* at most, or -1 for any number */
    int trains;                /* 1: the command fits a model, whose bits depend on the thread count:
                                  --threads 0 then means every core, fixed for the run (threads.h) */
} mc_cli_spec;

/* Called for each of the command's own options: index into spec->options, arg or NULL. Returns
 * 0, or -1 after reporting a bad value with mc_cli_usage_error. */
typedef int (*mc_option_fn)(const struct mc_ctx *ctx, void *user, int index, const char *arg);

/* Parses a command's argv (argv[0] = command name) against spec and the common options, updates
 * ctx, and calls on_option for the command's own options. Returns the index of the first
 * positional argument; or -1 when the command must stop now with *exit_code: MC_EXIT_OK after
 * --help, MC_EXIT_USAGE after a usage error (one line on stderr), MC_EXIT_FAILURE when the
 * requested device is unavailable. */
int mc_cli_parse(mc_ctx *ctx, const mc_cli_spec *spec, int argc, char **argv,
                 mc_option_fn on_option, void *user, int *exit_code);

/* Prints "program command: message" and a hint to use --help on stderr; returns -1. */
int mc_cli_usage_error(const mc_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Option value helpers: parse arg as an integer/real within [lo, hi] into *out; on failure they
 * report a usage error naming --name and return -1. */
int mc_cli_int(const mc_ctx *ctx, const char *name, const char *arg, long lo, long hi, long *out);
int mc_cli_real(const mc_ctx *ctx, const char *name, const char *arg, double lo, double hi, double *out);

/* Prints obj as one compact JSON line on stdout (the --json result format) and releases it;
 * prints nothing once stdout's reader has gone (mc_cli_stdout_closed). */
void mc_cli_print_json(json_t *obj);
/* mc_cli_print_json with reals printed to `digits` significant digits (1 to 17) rather than 17, for
 * values that were rounded for display (a recipe that the CSV prints as 256.44073 then reads the same
 * in JSON). */
void mc_cli_print_json_digits(json_t *obj, int digits);

/* Whether the reader of stdout has closed it, as `head` does after the lines it wanted. Programs
 * ignore SIGPIPE (mc_cli_main), so writing to such a stdout fails with EPIPE instead of killing the
 * process in the middle of a run. Once a failed write shows it, stdout is pointed at /dev/null:
 * the command goes on to its end and writes nothing more. flush: flush stdout first, to find out
 * now rather than at the next full buffer. Returns 1 when stdout's reader has gone, else 0 (a
 * write error of another kind is left as it is). */
int mc_cli_stdout_closed(int flush);

typedef int (*mc_command_fn)(mc_ctx *ctx, int argc, char **argv);

typedef struct mc_command {
    const char *name;
    const char *summary;  /* one line for the program's --help */
    mc_command_fn run;
} mc_command;

typedef struct mc_program {
    const char *name;     /* "moe-finance" */
    const char *summary;  /* one line */
    const mc_command *commands;
    int n_commands;
} mc_program;

/* The whole main(): parses the common options, handles --help, --version and `help COMMAND`,
 * dispatches to the command, and returns the exit code. */
int mc_cli_main(const mc_program *prog, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
