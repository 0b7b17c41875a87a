# moe-finance's Gaussian HMM (regime detection) against hmmlearn's GaussianHMM: the reference fits
# are in finance/hmm_fixture.json, written by `tests/finance/make_hmm_fixtures.py` and committed, so
# the test needs no Python. hmm.c belongs to the moe-finance program, so it is compiled into the test.
mc_add_unit_test(test_hmm test_hmm.c)
target_link_libraries(test_hmm PRIVATE moe_finance)
target_compile_definitions(test_hmm PRIVATE HMM_FIXTURE="${CMAKE_CURRENT_SOURCE_DIR}/finance/hmm_fixture.json")
set_tests_properties(test_hmm PROPERTIES LABELS "unit;parity")
