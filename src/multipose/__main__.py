from multipose.cli import main

main()
