# The MoE layer, networks and training.
mc_add_unit_test(test_moe test_moe.c gradcheck.c)
mc_add_unit_test(test_train test_train.c)
set_tests_properties(test_train PROPERTIES LABELS "unit;train")
mc_add_unit_test(test_model test_model.c gradcheck.c)
