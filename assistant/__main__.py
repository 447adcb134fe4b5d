from assistant.cli.root import main

main()
