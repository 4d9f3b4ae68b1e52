using System.Diagnostics;
using System.Text.RegularExpressions;
using Csshim.OciSpec;

namespace Csshim.Tests;

/// <summary>The flag tables checked against the help output of the runtimes installed on this machine.</summary>
public partial class FlagTablesAgainstBinariesTests
{
    private static string Run(string exe, params string[] args)
    {
        var path = new[] { "/usr/bin/" + exe, "/usr/sbin/" + exe, "/usr/local/bin/" + exe }.FirstOrDefault(File.Exists);
        if (path is null) Assert.Ignore($"{exe} is not installed");
        var psi = new ProcessStartInfo(path!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return stdout.Result + stderr.Result;
    }

    // Go's PrintDefaults: "  -name" for a bool, "  -name type" otherwise; a backquoted word in the usage replaces
    // the type word (runsc's -net-raw shows "runsc exec"), so only real type words count as "takes a value".
    [GeneratedRegex(@"^  -(\S+)(?: (\S+))?", RegexOptions.Multiline)]
    private static partial Regex GoFlagLine();
    private static readonly HashSet<string> GoTypeWords = ["value", "string", "int", "uint", "int64", "uint64", "float", "duration"];

    private static Dictionary<string, bool> GoFlags(string help) =>
        GoFlagLine().Matches(help).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Success && GoTypeWords.Contains(m.Groups[2].Value));

    // urfave/cli: "   --name value, -n value   usage" for a valued flag, "   --name, -n   usage" for a bool.
    [GeneratedRegex(@"^\s+(--?[\w-]+(?: value)?(?:, -?-?[\w-]+(?: value)?)*)\s{2,}", RegexOptions.Multiline)]
    private static partial Regex UrfaveFlagLine();

    private static Dictionary<string, bool> UrfaveFlags(string help)
    {
        var result = new Dictionary<string, bool>();
        foreach (Match m in UrfaveFlagLine().Matches(help))
            foreach (var part in m.Groups[1].Value.Split(", "))
            {
                var words = part.Split(' ');
                result[words[0].TrimStart('-')] = words.Length > 1;
            }
        return result;
    }

    [Test]
    public void RunscGlobalsMatchRunscFlags()
    {
        var flags = GoFlags(Run("runsc", "flags"));
        Assert.That(flags, Has.Count.GreaterThan(40));
        foreach (var (name, valued) in flags)
        {
            var kind = RuntimeFlagTables.RunscGlobals.KindOf(name);
            if (name == "allow-rootfs-tar-annotation") continue;
            if (valued)
                Assert.That(kind, Is.Not.EqualTo(FlagKind.Bool), $"runsc --{name} takes a value");
            else
                Assert.That(kind, Is.Not.EqualTo(FlagKind.Value), $"runsc --{name} is a bool");
        }
    }

    /// <summary>The subcommands both runtimes have, plus each one's own.</summary>
    private static readonly string[] SharedSubcommands = ["create", "run", "delete", "kill", "exec", "ps", "events", "checkpoint", "restore", "spec", "list"];
    private static readonly string[] RunscSubcommands = [.. SharedSubcommands, "wait"];
    private static readonly string[] RuncSubcommands = [.. SharedSubcommands, "update"];

    [TestCaseSource(nameof(RunscSubcommands))]
    public void RunscSubcommandTablesMatchRunscHelp(string command)
    {
        var flags = GoFlags(Run("runsc", "help", command));
        var table = RuntimeFlagTables.ForSubcommand(command, RuntimeFlavor.Runsc);
        foreach (var (name, valued) in flags)
        {
            Assert.That(table.Knows(name), Is.True, $"runsc {command} --{name} missing from the table");
            Assert.That(table.KindOf(name) == FlagKind.Value, Is.EqualTo(valued), $"runsc {command} --{name}");
        }
    }

    [Test]
    public void RuncGlobalsMatchRuncHelp()
    {
        var help = Run("runc", "--help");
        var flags = UrfaveFlags(help[help.IndexOf("GLOBAL OPTIONS", StringComparison.Ordinal)..]);
        Assert.That(flags.Keys, Is.SupersetOf(new[] { "root", "log", "rootless", "debug" }));
        foreach (var (name, valued) in flags)
        {
            Assert.That(RuntimeFlagTables.RuncGlobals.Knows(name), Is.True, $"runc --{name} missing");
            Assert.That(RuntimeFlagTables.RuncGlobals.KindOf(name) == FlagKind.Value, Is.EqualTo(valued), $"runc --{name}");
        }
    }

    [TestCaseSource(nameof(RuncSubcommands))]
    public void RuncSubcommandTablesMatchRuncHelp(string command)
    {
        var help = Run("runc", command, "--help");
        var options = help.IndexOf("OPTIONS", StringComparison.Ordinal);
        Assert.That(options, Is.GreaterThan(0), help);
        var flags = UrfaveFlags(help[options..]);
        Assert.That(flags, Is.Not.Empty);
        var table = RuntimeFlagTables.ForSubcommand(command, RuntimeFlavor.Runc);
        foreach (var (name, valued) in flags)
        {
            if (name is "help" or "h") continue;
            Assert.That(table.Knows(name), Is.True, $"runc {command} --{name} missing from the table");
            Assert.That(table.KindOf(name) == FlagKind.Value, Is.EqualTo(valued), $"runc {command} --{name}");
        }
    }

    /// <summary>The reorder csshim models is what runc really does: `delete ID --force` on a missing container
    /// succeeds only if --force was read as a flag; `state ID --bogus` fails on the extra argument.</summary>
    [Test]
    public void RuncReallyReordersKnownFlagsOnly()
    {
        var root = Directory.CreateTempSubdirectory("csshim-runc-root-").FullName;
        try
        {
            Assert.That(ExitCode("runc", "--root", root, "delete", "no-such-container", "--force"), Is.EqualTo(0));
            Assert.That(SubcommandLine.Parse("delete", ["no-such-container", "--force"], RuntimeFlavor.Runc).IsSet("force"), Is.True);
            Assert.That(ExitCode("runc", "--root", root, "delete", "no-such-container"), Is.Not.EqualTo(0));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static int ExitCode(string exe, params string[] args)
    {
        var psi = new ProcessStartInfo("/usr/sbin/" + exe) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (!File.Exists(psi.FileName)) Assert.Ignore($"{exe} is not installed");
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardOutput.ReadToEnd();
        p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode;
    }
}
