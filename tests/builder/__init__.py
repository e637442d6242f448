"""engine_builder, the program in the build Job (DESIGN §6): its pure parts, both backends run
for real against stand-ins, and the round trip through the hook."""
