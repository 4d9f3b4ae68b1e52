using System.Diagnostics;
using Csshim.OciSpec;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace Csshim.Tests;

/// <summary>config.json round trips on real specs made by `runc spec`.</summary>
public class BundleSpecTests
{
    private string bundle = "";

    [SetUp]
    public void MakeBundle()
    {
        bundle = Directory.CreateTempSubdirectory("csshim-bundle-").FullName;
        var psi = new ProcessStartInfo(File.Exists("/usr/sbin/runc") ? "/usr/sbin/runc" : "runc", "spec")
            { WorkingDirectory = bundle, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.EqualTo(0), "runc spec: " + err);
    }

    [TearDown]
    public void RemoveBundle() => Directory.Delete(bundle, recursive: true);

    private string ConfigPath => Path.Combine(bundle, "config.json");

    /// <summary>The file as a second reader sees it (doubles by default: the spec holds 1.5e300).</summary>
    private static JObject ReadRaw(string path, FloatParseHandling floats = FloatParseHandling.Double)
    {
        using var reader = new JsonTextReader(new StreamReader(path))
            { DateParseHandling = DateParseHandling.None, FloatParseHandling = floats };
        return JObject.Load(reader);
    }

    /// <summary>Put awkward values into the spec as text, the way another writer would. A non-string annotation is
    /// only for parser tests: runc itself refuses it.</summary>
    private void AddAwkwardFields(bool nonStringAnnotation = true)
    {
        var text = File.ReadAllText(ConfigPath).TrimEnd();
        Assert.That(text, Does.EndWith("}"));
        var count = nonStringAnnotation ? "\"org.example.count\": 7," : "";
        var extra = $$"""
              ,"annotations": {"org.example.created": "2024-01-02T03:04:05.123+02:00", {{count}}
                 "org.example.name": "x"},
              "org.example.float": 0.1, "org.example.big": 123456789012345678901234567890,
              "org.example.date": "2024-01-02T03:04:05Z", "org.example.exp": 1.5e300
              """;
        File.WriteAllText(ConfigPath, text[..^1] + extra + "}");
    }

    [Test]
    public void ReadsARuncSpec()
    {
        var spec = BundleSpec.Load(bundle);
        Assert.That(spec.BundleDir, Is.EqualTo(bundle));
        Assert.That(spec.ConfigPath, Is.EqualTo(ConfigPath));
        Assert.That(spec.RootPath, Is.EqualTo("rootfs"));
        Assert.That(spec.AbsoluteRootPath, Is.EqualTo(Path.Combine(bundle, "rootfs")));
        Assert.That(spec.RootReadonly, Is.True, "runc spec writes readonly: true");
        Assert.That(spec.Annotations, Is.Empty);
    }

    [Test]
    public void RelativeBundleDirIsMadeAbsoluteAgainstTheCwd()
    {
        var cwd = Environment.CurrentDirectory;
        try
        {
            Environment.CurrentDirectory = Path.GetDirectoryName(bundle)!;
            var spec = BundleSpec.Load(Path.GetFileName(bundle));
            Assert.That(spec.BundleDir, Is.EqualTo(bundle));
            Assert.That(spec.AbsoluteRootPath, Is.EqualTo(Path.Combine(bundle, "rootfs")));
        }
        finally
        {
            Environment.CurrentDirectory = cwd;
        }
    }

    [Test]
    public void AbsoluteAndDottedRootPaths()
    {
        var spec = BundleSpec.Load(bundle);
        spec.RootPath = "/var/lib/x/rootfs";
        Assert.That(spec.AbsoluteRootPath, Is.EqualTo("/var/lib/x/rootfs"));
        spec.RootPath = "./a/../rootfs";
        Assert.That(spec.AbsoluteRootPath, Is.EqualTo(Path.Combine(bundle, "rootfs")));
    }

    [Test]
    public void AnnotationsKeepOnlyStrings()
    {
        AddAwkwardFields();
        var spec = BundleSpec.Load(bundle);
        Assert.That(spec.Annotations, Is.EquivalentTo(new Dictionary<string, string>
        {
            ["org.example.created"] = "2024-01-02T03:04:05.123+02:00",
            ["org.example.name"] = "x",
        }));
    }

    [Test]
    public void ToJsonKeepsEveryUntouchedField()
    {
        AddAwkwardFields();
        File.SetUnixFileMode(ConfigPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var before = ReadRaw(ConfigPath);

        var spec = BundleSpec.Load(bundle);
        spec.RootPath = "/run/csshim/x/merged";
        spec.SetAnnotation("dev.csshim.staged", "yes");
        spec.RemoveAnnotation("org.example.name");
        Save(spec);

        var after = ReadRaw(ConfigPath);
        foreach (var property in before.Properties())
        {
            if (property.Name is "root" or "annotations") continue;
            Assert.That(JToken.DeepEquals(property.Value, after[property.Name]), Is.True, $"field {property.Name} changed");
        }
        Assert.That(after.Properties().Select(p => p.Name), Is.EquivalentTo(before.Properties().Select(p => p.Name)));
        Assert.That((string?)after["root"]!["path"], Is.EqualTo("/run/csshim/x/merged"));
        Assert.That(JToken.DeepEquals(after["root"]!["readonly"], before["root"]!["readonly"]), Is.True);
        Assert.That(JToken.DeepEquals(after["annotations"], new JObject
        {
            ["org.example.created"] = "2024-01-02T03:04:05.123+02:00",
            ["org.example.count"] = 7,
            ["dev.csshim.staged"] = "yes",
        }), Is.True, after["annotations"]!.ToString());

        var text = File.ReadAllText(ConfigPath);
        Assert.That(text, Does.Contain("\"2024-01-02T03:04:05Z\""));
        Assert.That(text, Does.Contain("\"2024-01-02T03:04:05.123+02:00\""));
        Assert.That(text, Does.Contain("0.1"));
        Assert.That(text, Does.Contain("123456789012345678901234567890"));
        Assert.That(ReadRaw(ConfigPath, FloatParseHandling.Double)["org.example.exp"]!.Value<double>(), Is.EqualTo(1.5e300));
        Assert.That(File.GetUnixFileMode(ConfigPath), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        Assert.That(Directory.GetFiles(bundle), Is.EqualTo(new[] { ConfigPath }), "no temp file left behind");
    }

    [Test]
    public void DecimalsKeepEveryDigit()
    {
        var text = File.ReadAllText(ConfigPath).TrimEnd();
        File.WriteAllText(ConfigPath, text[..^1] + ", \"org.example.precise\": 0.1000000000000000000001, \"org.example.one\": 1.0}");
        var spec = BundleSpec.Load(bundle);
        spec.SetAnnotation("k", "v");
        Save(spec);
        var saved = File.ReadAllText(ConfigPath);
        Assert.That(saved, Does.Contain("0.1000000000000000000001"));
        Assert.That(saved, Does.Contain("1.0"));
    }

    /// <summary>A spec csshim saved (awkward numbers, an added annotation, a rewritten root.path) runs under runc.</summary>
    [Test]
    public void SavedSpecRunsUnderRunc()
    {
        if (!File.Exists("/bin/busybox") || !File.Exists("/usr/sbin/runc") || Environment.UserName != "root")
            Assert.Ignore("needs root, runc and /bin/busybox");
        var rootfs = Path.Combine(bundle, "elsewhere");
        Directory.CreateDirectory(Path.Combine(rootfs, "bin"));
        File.Copy("/bin/busybox", Path.Combine(rootfs, "bin", "busybox"));
        AddAwkwardFields(nonStringAnnotation: false);
        var spec = BundleSpec.Load(bundle);
        spec.RootPath = "elsewhere";
        spec.SetAnnotation(RootfsTarAnnotation.BaseKey, "/nonexistent.tar");
        spec.Document["process"]!["terminal"] = false;
        spec.Document["process"]!["args"] = new System.Text.Json.Nodes.JsonArray("/bin/busybox", "sh", "-c", "echo csshim-ok");
        Save(spec);

        var root = Directory.CreateTempSubdirectory("csshim-runc-root-").FullName;
        var id = "csshim-spec-" + Environment.ProcessId;
        try
        {
            var psi = new ProcessStartInfo("/usr/sbin/runc") { WorkingDirectory = bundle, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "--root", root, "run", "--bundle", bundle, id }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEnd();
            Assert.That(p.WaitForExit(60_000), Is.True, "runc run timed out");
            Assert.That(p.ExitCode, Is.EqualTo(0), stderr);
            Assert.That(stdout.Result, Does.Contain("csshim-ok"));
        }
        finally
        {
            using (var cleanup = Process.Start(new ProcessStartInfo("/usr/sbin/runc", ["--root", root, "delete", "--force", id])
                       { RedirectStandardError = true, RedirectStandardOutput = true })!)
                cleanup.WaitForExit();
            Directory.Delete(root, recursive: true);
        }
    }

    [Test]
    public void RemovingTheLastAddedAnnotationRemovesTheObjectItCreated()
    {
        var spec = BundleSpec.Load(bundle);
        spec.SetAnnotation("a", "1");
        spec.RemoveAnnotation("a");
        Save(spec);
        Assert.That(ReadRaw(ConfigPath).ContainsKey("annotations"), Is.False);
    }

    [Test]
    public void AnExistingAnnotationsObjectStaysEvenWhenEmptied()
    {
        var raw = ReadRaw(ConfigPath);
        raw["annotations"] = new JObject { ["a"] = "1" };
        File.WriteAllText(ConfigPath, raw.ToString());
        var spec = BundleSpec.Load(bundle);
        spec.RemoveAnnotation("a");
        spec.RemoveAnnotation("not-there");
        Save(spec);
        Assert.That(JToken.DeepEquals(ReadRaw(ConfigPath)["annotations"], new JObject()), Is.True);
    }

    private static void Save(BundleSpec spec) => File.WriteAllText(spec.ConfigPath, spec.ToJson());

    [Test]
    public void MissingFileNamesTheFile()
    {
        File.Delete(ConfigPath);
        var e = Assert.Throws<SpecFormatException>(() => BundleSpec.Load(bundle));
        Assert.That(e!.Message, Does.Contain(ConfigPath));
    }

    [TestCase("{\"root\": {\"path\": \"rootfs\"", "end of")]
    [TestCase("{\"root\": } ", "invalid start of a value")]
    [TestCase("[1, 2]", "not a JSON object")]
    [TestCase("{} {}", "Expected end of data")]
    [TestCase("", "")]
    public void InvalidJsonNamesTheFileAndTheProblem(string text, string problem)
    {
        File.WriteAllText(ConfigPath, text);
        var e = Assert.Throws<SpecFormatException>(() => BundleSpec.Load(bundle));
        Assert.That(e!.Message, Does.Contain(ConfigPath));
        Assert.That(e.Message, Does.Contain(problem));
    }

    [Test]
    public void MissingRootIsAClearError()
    {
        File.WriteAllText(ConfigPath, "{\"ociVersion\": \"1.0.2\"}");
        var spec = BundleSpec.Load(bundle);
        var e = Assert.Throws<SpecFormatException>(() => _ = spec.RootPath);
        Assert.That(e!.Message, Does.Contain("root.path").And.Contain(ConfigPath));
        Assert.That(spec.RootReadonly, Is.False);
        spec.RootPath = "r";
        Assert.That(spec.AbsoluteRootPath, Is.EqualTo(Path.Combine(bundle, "r")));
    }
}
