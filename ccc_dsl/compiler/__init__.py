"""The compiler: name resolution, flow analysis, graph IR and bytecode."""
