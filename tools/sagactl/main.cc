#include <iostream>

#include "tools/sagactl/cli.h"

int main(int argc, char** argv) {
  return saga::sagactl::RunCli(argc, argv, std::cin, std::cout, std::cerr);
}
