# The convolutional layers: convolution (oneDNN against the reference loops, gradients, the
# primitive cache, concurrent calls), pooling and batch norm, squeeze-excitation and spatial attention.
find_package(Threads REQUIRED)

mc_add_unit_test(test_conv test_conv.c gradcheck.c)
target_link_libraries(test_conv PRIVATE Threads::Threads)
mc_add_unit_test(test_pool_norm test_pool_norm.c gradcheck.c)
mc_add_unit_test(test_attention_cnn test_attention_cnn.c gradcheck.c)
# Convolutional stacks through mc_model in the blocked layout against the plain layers.
mc_add_unit_test(test_conv_stack test_conv_stack.c gradcheck.c)
