# Charts: pixel positions of lines, bands and stacked panels; errors.
mc_add_unit_test(test_plot test_plot.c)
