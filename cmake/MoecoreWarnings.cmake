# mc_strict_warnings(target): -Wall -Wextra -Werror on our own C code.
function(mc_strict_warnings target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:C,CXX>:-Wall -Wextra -Werror>)
endfunction()
