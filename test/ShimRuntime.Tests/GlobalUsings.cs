global using Csshim.Tests.Rig;
global using Newtonsoft.Json.Linq;
global using NUnit.Framework;
