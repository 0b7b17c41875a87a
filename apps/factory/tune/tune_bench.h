/* tune_bench.h: `moe-factory tune bench`, the simulation study of the tuning methods. */
#ifndef MOE_FACTORY_TUNE_BENCH_H
#define MOE_FACTORY_TUNE_BENCH_H

#include "moecore/cli.h"

/* The sub-command: argv[0] is "bench". */
int fab_tune_bench(mc_ctx *ctx, int argc, char **argv);

#endif
