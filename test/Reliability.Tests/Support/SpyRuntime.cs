using System.Text;

namespace Csshim.Reliability.Tests.Support;

/// <summary>What a spy does on one subcommand before (or instead of) exec'ing the real runtime: sleep, die of a
/// signal, or answer with an exit code of its own.</summary>
public sealed record SpyAction(string Subcommand, double SleepSeconds = 0, string? Signal = null, int? ExitCode = null);

/// <summary>One call the spy saw: its argv after argv[0], byte for byte, and when it began (CLOCK_REALTIME).</summary>
public sealed record SpyCall(IReadOnlyList<byte[]> Argv, DateTime Began)
{
    public bool Has(string word) => Argv.Any(a => a.AsSpan().SequenceEqual(Encoding.UTF8.GetBytes(word)));

    public override string ToString() => string.Join(' ', Argv.Select(a => Encoding.UTF8.GetString(a)));
}

/// <summary>
/// A "spy" in the runtime's place: a shell script named like the runtime it wraps (csshim tells runsc from runc by
/// the file name) that records every call's argv — NUL-separated, exactly the bytes it was given — then does its
/// <see cref="SpyAction"/> and otherwise execs the real runtime with the same arguments. Its files live in the
/// sandbox and go with it. <see cref="Runtime"/> has the real runtime's name and global flags, so the sandbox gives
/// it the same --root and its containers are the real runtime's.
/// </summary>
public sealed class SpyRuntime
{
    public RuntimeUnderTest Real { get; }
    public RuntimeUnderTest Runtime { get; }
    private readonly string dir;
    private string CallsDir => Path.Combine(dir, "calls");

    private SpyRuntime(RuntimeUnderTest real, string dir, string script)
    {
        Real = real;
        this.dir = dir;
        Runtime = real with { Path = script };
    }

    public static SpyRuntime Over(Sandbox sb, RuntimeUnderTest real, SpyAction? action = null)
    {
        var dir = Path.Combine(sb.Dir, $"spy-{Guid.NewGuid():N}"[..12]);
        Directory.CreateDirectory(Path.Combine(dir, "calls"));
        var script = Path.Combine(dir, Path.GetFileName(real.Path));
        var spy = new SpyRuntime(real, dir, script);
        File.WriteAllText(script, spy.Script(action));
        File.SetUnixFileMode(script, (UnixFileMode)0b111_101_101);
        return spy;
    }

    private string Script(SpyAction? action)
    {
        var lines = new List<string>
        {
            "#!/bin/sh",
            $"f={Quote(CallsDir)}/$(date +%s%N).$$",
            "printf '%s\\0' \"$@\" > \"$f.tmp\" && mv \"$f.tmp\" \"$f\"",
        };
        if (action is not null)
        {
            var act = new List<string>();
            if (action.SleepSeconds > 0)
                act.Add($"touch {Quote(BeganMarker(action.Subcommand))}; sleep {action.SleepSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
            if (action.Signal is not null) act.Add($"ulimit -c 0; kill -{action.Signal} $$; exit 99");
            if (action.ExitCode is { } code) act.Add($"exit {code}");
            lines.Add($"for word; do if [ \"$word\" = {Quote(action.Subcommand)} ]; then {string.Join("; ", act)}; break; fi; done");
        }
        lines.Add($"exec {Quote(Real.Path)} \"$@\"");
        return string.Join('\n', lines) + "\n";
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    private string BeganMarker(string subcommand) => Path.Combine(dir, "began-" + subcommand);

    /// <summary>True once a call of subcommand has reached its sleep.</summary>
    public bool Began(string subcommand) => File.Exists(BeganMarker(subcommand));

    /// <summary>Every call so far, in the order they began.</summary>
    public List<SpyCall> Calls() =>
        Directory.EnumerateFiles(CallsDir)
            .Where(f => !f.EndsWith(".tmp", StringComparison.Ordinal))
            .Select(f => (Name: Path.GetFileName(f), File: f))
            .OrderBy(f => long.Parse(f.Name.Split('.')[0])).ThenBy(f => f.Name, StringComparer.Ordinal)
            .Select(f => new SpyCall(Split(File.ReadAllBytes(f.File)),
                DateTime.UnixEpoch.AddTicks(long.Parse(f.Name.Split('.')[0]) / 100)))
            .ToList();

    /// <summary>The calls whose argv holds the word (a subcommand, normally).</summary>
    public List<SpyCall> CallsWith(string word) => Calls().Where(c => c.Has(word)).ToList();

    private static List<byte[]> Split(byte[] record)
    {
        var words = new List<byte[]>();
        int start = 0;
        for (int i = 0; i < record.Length; i++)
        {
            if (record[i] != 0) continue;
            words.Add(record[start..i]);
            start = i + 1;
        }
        return words;
    }
}
