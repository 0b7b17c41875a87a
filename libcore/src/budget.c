/* budget.c: the memory one input may take (budget.h). */
#include "moecore/budget.h"

#include <stdlib.h>

size_t mc_memory_budget(void) {
    const char *env = getenv("MOESUITE_MEMORY_MB");
    char *end;
    long mb = env && *env ? strtol(env, &end, 10) : 0;
    if (!env || !*env || *end != '\0' || mb < 16 || mb > 1048576) mb = MC_MEMORY_BUDGET_DEFAULT_MB;
    return (size_t)mb << 20;
}
