/* main.c: uses the installed headers and library: prints the version and one status text. */
#include <stdio.h>

#include "moecore/status.h"
#include "moecore/version.h"

int main(void) {
    printf("%s %s\n", mc_version(), mc_status_str(MC_ERR_FORMAT));
    return 0;
}
