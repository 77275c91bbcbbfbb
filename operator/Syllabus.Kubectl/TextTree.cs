using System.Text;

namespace Syllabus.Kubectl;

/// <summary>A node of the tree <c>status</c> prints, drawn with the box characters of <c>kubectl argo rollouts get</c>.</summary>
internal sealed class TextTree(string label)
{
    public string Label { get; } = label;

    public List<TextTree> Children { get; } = [];

    public TextTree Add(string label)
    {
        var child = new TextTree(label);
        Children.Add(child);
        return child;
    }

    public void Write(StringBuilder output)
    {
        output.Append(OneLine(Label)).Append('\n');
        WriteChildren(output, "");
    }

    // Messages from the cluster may hold line breaks; one node stays one line so the tree stays drawn.
    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    private void WriteChildren(StringBuilder output, string indent)
    {
        for (var i = 0; i < Children.Count; i++)
        {
            var last = i == Children.Count - 1;
            var child = Children[i];

            output.Append(indent).Append(last ? "└──" : "├──").Append(OneLine(child.Label)).Append('\n');
            child.WriteChildren(output, indent + (last ? "   " : "│  "));
        }
    }
}
