/* csv.c: CSV line splitting and dates for moe-finance's input files. */
#include "csv.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

int fin_csv_split(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (n == max) return -1;
        f[n++] = p;
        char *c = strchr(p, ',');
        char *end = c ? c : p + strlen(p);
        while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n')) end--;
        *end = '\0';
        if (!c) return n;
        p = c + 1;
    }
}

int fin_date_days(const char *s) {
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3) return INT_MIN;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1800 || y > 2200 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || (m == 2 && d == 29 && !leap)) return INT_MIN;
    /* days from civil: shift the year to start in March so the leap day is last */
    int yy = m <= 2 ? y - 1 : y, era = yy / 400, yoe = yy - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}
