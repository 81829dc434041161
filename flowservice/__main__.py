from flowservice.cli import main

main()
