/* fuzz_cli.c: libmoecore's command line (mc_cli_main, mc_cli_parse) with moe-finance's real
 * commands and their option specs, on an argv made from the input: one argument per line, at most
 * 48. Every command line ends in "--help --help" (and "--" is left out) so that parsing always
 * stops before a command would run: the second --help is an option even when the input's last
 * argument is an option that takes the first as its value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static const mc_command commands[] = {
    {"factors", "factors", fin_cmd_factors},       {"regimes", "regimes", fin_cmd_regimes},
    {"train", "train", fin_cmd_train},             {"forecast", "forecast", fin_cmd_forecast},
    {"backtest", "backtest", fin_cmd_backtest},    {"run", "run", fin_cmd_run},
};

static const mc_program program = {"moe-finance", "fuzzed", commands, (int)(sizeof commands / sizeof commands[0])};

#define MAX_ARGS 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_ARGS + 4];
    int argc = 0;
    argv[argc++] = "moe-finance";
    char *save = NULL;
    for (char *arg = strtok_r(text, "\n", &save); arg && argc <= MAX_ARGS; arg = strtok_r(NULL, "\n", &save))
        if (strcmp(arg, "--") != 0) argv[argc++] = arg;
    argv[argc++] = "--help";
    argv[argc++] = "--help";
    argv[argc] = NULL;
    int code = mc_cli_main(&program, argc, argv);
    if (code != MC_EXIT_OK && code != MC_EXIT_USAGE) abort(); /* help, or a usage error: never a run */
    free(text);
    return 0;
}
