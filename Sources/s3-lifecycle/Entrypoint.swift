import ArchiveCommands

LifecycleCommand.main()
