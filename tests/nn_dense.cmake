# Dense layers and self-attention; losses; optimisers, learning-rate schedule and clipping.
mc_add_unit_test(test_dense test_dense.c gradcheck.c)
mc_add_unit_test(test_loss test_loss.c gradcheck.c)
mc_add_unit_test(test_optim test_optim.c)
