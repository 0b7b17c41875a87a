# The results store: migrations, transactions, concurrent reader, killed writer.
mc_add_unit_test(test_store test_store.c)
