from airctx.cli.main import main

main()
