using Syllabus.Trainer.Cli;

var root = TrainCommand.CreateRoot(Console.Out, Console.Error, Environment.GetEnvironmentVariable, TimeProvider.System);
return await root.Parse(args).InvokeAsync();
