from rehearsal.run import main

main()
