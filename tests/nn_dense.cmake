# Dense layers, self-attention, losses and optimisers.
mc_add_unit_test(test_dense test_dense.c gradcheck.c)
