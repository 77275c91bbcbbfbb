using Syllabus.Benchmarks.Operator;

// Operator benchmarks (README "Benchmarks"):
//   widgets (default)  the controller runtime alone: a test kind, a reconciler that writes status once
//   trainingruns       the real operator (a separate process of Syllabus.Operator.dll) taking TrainingRuns to Pending
var mode = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : "widgets";
var rest = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[1..] : args;
try
{
    return mode switch
    {
        "widgets" => await WidgetBenchmark.RunAsync(rest),
        "trainingruns" => await TrainingRunBenchmark.RunAsync(rest),
        _ => Usage($"unknown mode '{mode}'"),
    };
}
catch (UsageException e)
{
    return Usage(e.Message.TrimEnd('.'));
}

static int Usage(string problem)
{
    Console.Error.WriteLine($"{problem}. Modes: widgets [--objects N] [--workers N]; trainingruns [--runs N] [--workers N] [--unrelated N] [--qps Q --burst B] [--steady-seconds S] [--gc shipped|workstation].");
    return 2;
}
