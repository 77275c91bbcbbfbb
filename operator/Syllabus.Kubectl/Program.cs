using Syllabus.Kubectl;

// Colours only on a terminal, and never with NO_COLOR set (https://no-color.org).
var color = !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"));
var root = PluginCommands.CreateRoot(new PluginConsole(Console.Out, Console.Error, color), KubeConnection.Connect, TimeProvider.System);
return await root.Parse(args).InvokeAsync();
