# Scoring helpers of libmoecore: AUROC and ROC curves, SHA-256 content hashes.
mc_add_unit_test(test_roc test_roc.c)
mc_add_unit_test(test_sha256 test_sha256.c)
