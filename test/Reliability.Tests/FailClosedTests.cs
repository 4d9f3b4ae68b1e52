using System.Text.RegularExpressions;

namespace Csshim.Reliability.Tests;

/// <summary>
/// Fail closed: a create or run whose command line csshim cannot fully parse — an unknown global flag that may have
/// taken the next word, an unknown create flag, no id — is refused when its bundle asks for an archive (forwarded
/// unstaged, the container would start without it), and forwarded exactly as before when it does not, so that the
/// runtime's own error reaches the caller.
/// </summary>
[TestFixture]
public partial class FailClosedTests : SandboxFixture
{
    private const string B = "{B}", Id = "{ID}";

    /// <summary>A command line with placeholders for the bundle and id, and the reason csshim gives for it.</summary>
    private sealed record Line(string Name, string[] Words, string Reason, string? RunscReason = null)
    {
        public string ReasonFor(RuntimeUnderTest rt) => rt.IsRunsc ? RunscReason ?? Reason : Reason;

        public string[] With(string bundle, string id) => Words.Select(w => w.Replace(B, bundle).Replace(Id, id)).ToArray();
    }

    private static readonly Line[] Lines =
    [
        new("global_flag_before_create", ["--future-flag", "value", "create", "--bundle", B, Id], "unknown global flag -future-flag may take a value"),
        new("global_flag_before_run", ["--future-flag", "value", "run", "--bundle", B, Id], "unknown global flag -future-flag may take a value"),
        new("unknown_create_flag", ["create", "--bogus", "--bundle", B, Id], "unknown flag -bogus"),
        new("unknown_run_flag", ["run", "--bogus", "--bundle", B, Id], "unknown flag -bogus"),
        new("unknown_flag_inline_bundle", ["create", "--bundle=" + B, "--bogus", Id], "unknown flag -bogus"),
        // runsc has no -b: the first flag it does not know is that one.
        new("unknown_flag_short_bundle", ["create", "-b", B, "--bogus", Id], "unknown flag -bogus", "unknown flag -b"),
        new("no_container_id", ["create", "--bundle", B], "no container id"),
    ];

    private static readonly string[] Main = ["global_flag_before_create", "unknown_create_flag", "no_container_id"];

    public static IEnumerable<TestCaseData> AnnotatedCases()
    {
        foreach (var line in Lines)
            foreach (var rt in Main.Contains(line.Name) ? RuntimeUnderTest.Names : [RuntimeUnderTest.Runc, RuntimeUnderTest.Runsc2022])
                yield return new TestCaseData(rt, line.Name, false).SetName($"Annotated_{line.Name}_is_refused_{rt}");
        foreach (var rt in new[] { RuntimeUnderTest.Runc, RuntimeUnderTest.Runsc2022 })
            yield return new TestCaseData(rt, "unknown_create_flag", true).SetName($"Annotated_per_container_name_unknown_create_flag_is_refused_{rt}");
    }

    [TestCaseSource(nameof(AnnotatedCases))]
    public void Annotated_line_csshim_cannot_parse_is_refused(string runtime, string lineName, bool perName)
    {
        var spy = SpyRuntime.Over(sb, Runtimes.Named(runtime));
        var line = Lines.Single(l => l.Name == lineName);
        var archive = sb.Archive("a", Sandbox.Text("dir/file", "restored"));
        var key = perName ? Sandbox.TarAnnotation + ".web" : Sandbox.TarAnnotation;
        var annotations = new Dictionary<string, string> { [key] = archive };
        if (perName) annotations["io.kubernetes.cri.container-name"] = "web";
        var bundle = sb.Bundle("b", ["cat", "/dir/file"], annotations);
        const string id = "unparsed";
        var cause = $"cannot fully parse this create/run command line ({line.ReasonFor(spy.Real)}), and bundle {bundle} carries {key}";
        Figures.HostileCase("unparsed-create", lineName, spy.Real, () =>
        {
            Refusal.AssertRefusedUnforwarded(sb, spy, line.With(bundle, id), bundle, id, cause, 2, ["--allow-rootfs-tar-annotation"]);
            Assert.That(sb.RuntimeKnows(spy.Real, id), Is.False, "the container exists");
        });
    }

    public static IEnumerable<TestCaseData> PlainCases() =>
        from line in Lines.Where(l => Main.Contains(l.Name))
        from rt in RuntimeUnderTest.Names
        select new TestCaseData(rt, line.Name).SetName($"Plain_{line.Name}_is_forwarded_{rt}");

    /// <summary>Without an archive the same lines go to the runtime as they are (exec'd, argv unchanged), and the
    /// caller sees what the runtime alone answers.</summary>
    [TestCaseSource(nameof(PlainCases))]
    public void Plain_line_csshim_cannot_parse_is_forwarded_as_it_is(string runtime, string lineName)
    {
        var rt = Runtimes.Named(runtime);
        var spy = SpyRuntime.Over(sb, rt);
        var bundle = sb.Bundle("b", ["true"]);
        var config = File.ReadAllBytes(Path.Combine(bundle, "config.json"));
        const string id = "plain";
        var words = Lines.Single(l => l.Name == lineName).With(bundle, id);
        sb.Track(rt, id);

        var alone = sb.Runtime(rt, words);
        var shim = sb.Shim(spy.Runtime, words, ["--allow-rootfs-tar-annotation"]);
        var calls = spy.Calls();
        string[] forwarded = [.. rt.GlobalArgs, "--root", sb.RootOf(rt), .. words];
        Assert.Multiple(() =>
        {
            Assert.That(shim.Status, Is.EqualTo(alone.Status), $"exit status\nruntime alone: {alone}\ncsshim: {shim}");
            Assert.That(WithoutTimes(shim.Stderr), Is.EqualTo(WithoutTimes(alone.Stderr)), "stderr");
            Assert.That(shim.Stdout, Is.EqualTo(alone.Stdout), "stdout");
            Assert.That(calls.Select(c => c.ToString()), Is.EqualTo(new[] { string.Join(' ', forwarded) }), "the calls the runtime got");
            Assert.That(calls.Single().Argv, Is.EqualTo(forwarded.Select(RawProcess.Bytes).ToList()), "the forwarded argv bytes");
            Assert.That(File.ReadAllBytes(Path.Combine(bundle, "config.json")), Is.EqualTo(config), "config.json changed");
        });
        sb.AssertClean("after the forwarded line");
    }

    /// <summary>runc stamps its log lines with the time.</summary>
    private static string WithoutTimes(string stderr) => TimeStamp().Replace(stderr, "time=\"\"");

    [GeneratedRegex("time=\"[^\"]*\"")]
    private static partial Regex TimeStamp();
}
