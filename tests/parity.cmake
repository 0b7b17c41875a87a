# Parity with PyTorch: test_parity compares libmoecore's layers, losses, MoE layer and optimisers
# with the reference values in parity/*.safetensors, which parity/make_fixtures.py writes
# (regenerate with `/usr/bin/python3 tests/parity/make_fixtures.py`; the files are committed, so the
# test itself needs no Python).
mc_add_unit_test(test_parity test_parity.c)
target_compile_definitions(test_parity PRIVATE PARITY_DIR="${CMAKE_CURRENT_SOURCE_DIR}/parity")
set_tests_properties(test_parity PROPERTIES LABELS "unit;parity")
