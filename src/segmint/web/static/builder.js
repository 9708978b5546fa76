// The visual condition builder: every rule textarea marked data-rule-builder gets a
// "Builder | Text" switch. The builder edits the rule's JSON tree (RULES.md §5) as groups
// (all of / any of / none of) of conditions: the commerce sentences ("spent more than $X
// in the last N days", "bought from brand B…", "viewed product P…", "has P in the
// wishlist", "is in segment S"), a field compared with a value, or — for what no picker
// shows — the condition's own text, kept as it is. It never parses or prints rule text
// itself: the server gives the tree of the text (POST /builder/tree) and the text of the
// tree (POST /builder/text), so builder and text always hold the same rule.
//
// The first half (toModel / fromModel) is pure and runs under Node for the round-trip
// test (tests/unit/web/test_builder_roundtrip.py); the second half is the page's UI.
(function (root) {
  "use strict";

  // ---- the model <-> the JSON tree (pure) ---------------------------------------------

  const ITEM_FIELDS = ["brand", "category", "sku", "product_name"];
  const AMOUNT_OPS = [">", ">=", "<", "<=", "="];

  function isPath(node, parts) {
    return (
      node && node.type === "path" && node.parts.length === parts.length &&
      node.parts.every((p, i) => p === parts[i])
    );
  }
  function isLiteral(node, kind) {
    return node && node.type === "literal" && node.kind === kind;
  }
  function path(parts) {
    return { type: "path", parts: parts };
  }
  function literal(kind, value) {
    return { type: "literal", kind: kind, value: value };
  }
  function withinDays(node, field) {
    if (node && node.type === "within" && !node.negated && isPath(node.value, [field]) &&
        node.duration.unit === "d") {
      return node.duration.amount;
    }
    return null;
  }
  function within(field, days) {
    return {
      type: "within", value: path([field]),
      duration: { amount: days, unit: "d" }, negated: false,
    };
  }
  function equalsText(node, field) {
    if (node && node.type === "compare" && node.op === "=" && isPath(node.left, [field]) &&
        isLiteral(node.right, "string")) {
      return node.right.value;
    }
    return null;
  }
  function eqText(field, value) {
    return { type: "compare", op: "=", left: path([field]), right: literal("string", value) };
  }
  function aggregate(func, collection, field, where) {
    return { type: "aggregate", func: func, collection: [collection], field: field, where: where };
  }
  function isAggregate(node, func, collection, field) {
    return (
      node && node.type === "aggregate" && node.func === func &&
      node.collection.length === 1 && node.collection[0] === collection && node.field === field
    );
  }
  function andItems(node, count) {
    return node && node.type === "and" && node.items.length === count ? node.items : null;
  }

  // Each sentence: read (tree node -> model or null) and write (model -> tree node).
  const SENTENCES = {
    spent: {
      read(t) {
        if (t.type !== "compare" || !AMOUNT_OPS.includes(t.op)) return null;
        if (!isAggregate(t.left, "SUM", "orders", "total") || !isLiteral(t.right, "number")) {
          return null;
        }
        const days = withinDays(t.left.where, "placed_at");
        return days === null ? null : { kind: "spent", op: t.op, amount: t.right.value, days };
      },
      write(m) {
        const sum = aggregate("SUM", "orders", "total", within("placed_at", m.days));
        return { type: "compare", op: m.op, left: sum, right: literal("number", m.amount) };
      },
    },
    bought: {
      read(t) {
        if (t.type !== "bool_test" || !isAggregate(t.value, "EXISTS", "lines", null)) return null;
        const items = andItems(t.value.where, 2);
        if (!items || items[0].type !== "compare") return null;
        const field = ITEM_FIELDS.find((f) => equalsText(items[0], f) !== null);
        const days = withinDays(items[1], "placed_at");
        if (field === undefined || days === null) return null;
        return { kind: "bought", field, value: items[0].right.value, days };
      },
      write(m) {
        const where = { type: "and", items: [eqText(m.field, m.value), within("placed_at", m.days)] };
        return { type: "bool_test", value: aggregate("EXISTS", "lines", null, where) };
      },
    },
    viewed: {
      read(t) {
        if (t.type !== "compare" || !AMOUNT_OPS.includes(t.op)) return null;
        if (!isAggregate(t.left, "COUNT", "events", null) || !isLiteral(t.right, "number")) {
          return null;
        }
        const items = andItems(t.left.where, 3);
        if (!items || equalsText(items[0], "type") !== "product_view") return null;
        const sku = equalsText(items[1], "sku");
        const days = withinDays(items[2], "at");
        if (sku === null || days === null) return null;
        return { kind: "viewed", op: t.op, times: t.right.value, sku, days };
      },
      write(m) {
        const where = {
          type: "and", items: [eqText("type", "product_view"), eqText("sku", m.sku), within("at", m.days)],
        };
        return {
          type: "compare", op: m.op, left: aggregate("COUNT", "events", null, where),
          right: literal("number", m.times),
        };
      },
    },
    wishlist: {
      read(t) {
        if (t.type !== "bool_test" || !isAggregate(t.value, "EXISTS", "wishlist", null)) {
          return null;
        }
        const sku = equalsText(t.value.where, "sku");
        return sku === null ? null : { kind: "wishlist", sku };
      },
      write(m) {
        return { type: "bool_test", value: aggregate("EXISTS", "wishlist", null, eqText("sku", m.sku)) };
      },
    },
    segment: {
      read(t) {
        return t.type === "in_segment" ? { kind: "segment", code: t.code } : null;
      },
      write(m) {
        return { type: "in_segment", code: m.code };
      },
    },
    field: {
      read(t) {
        const scalar = (n) => n && n.type === "literal" && n.kind !== "null";
        if (t.type === "compare" && t.left.type === "path" && scalar(t.right)) {
          return fieldModel(t.left, t.op, [t.right]);
        }
        if (t.type === "in" && t.value.type === "path" && t.items.length > 0 &&
            t.items.every((i) => scalar(i) && i.kind === t.items[0].kind)) {
          return fieldModel(t.value, t.negated ? "not in" : "in", t.items);
        }
        if (t.type === "is_null" && t.value.type === "path") {
          return fieldModel(t.value, t.negated ? "is not empty" : "is empty", []);
        }
        if (t.type === "text_match" && t.value.type === "path" && isLiteral(t.pattern, "string")) {
          const op = (t.negated ? "not " : "") + t.op.toLowerCase();
          return fieldModel(t.value, op, [t.pattern]);
        }
        if (t.type === "bool_test" && t.value.type === "path") {
          return fieldModel(t.value, "is true", []);
        }
        return null;
      },
      write(m) {
        const value = path(m.field.split("."));
        const lits = m.values.map((v) => literal(m.vkind, v));
        if (["=", "!=", "<", "<=", ">", ">="].includes(m.op)) {
          return { type: "compare", op: m.op, left: value, right: lits[0] };
        }
        if (m.op === "in" || m.op === "not in") {
          return { type: "in", value, items: lits, negated: m.op === "not in" };
        }
        if (m.op === "is empty" || m.op === "is not empty") {
          return { type: "is_null", value, negated: m.op === "is not empty" };
        }
        if (m.op === "is true") return { type: "bool_test", value };
        const negated = m.op.startsWith("not ");
        const op = m.op.replace(/^not /, "").toUpperCase();
        return { type: "text_match", op, value, pattern: lits[0], negated };
      },
    },
  };
  const SENTENCE_ORDER = ["spent", "bought", "viewed", "wishlist", "segment", "field"];

  function fieldModel(pathNode, op, lits) {
    return {
      kind: "field", field: pathNode.parts.join("."), op,
      values: lits.map((l) => l.value), vkind: lits.length ? lits[0].kind : "string",
    };
  }

  function toNode(t) {
    if (t.type === "and" || t.type === "or") {
      return { kind: "group", mode: t.type === "and" ? "all" : "any", items: t.items.map(toNode) };
    }
    if (t.type === "not") {
      const inner = t.operand.type === "or" ? t.operand.items : [t.operand];
      return { kind: "group", mode: "none", items: inner.map(toNode) };
    }
    for (const name of SENTENCE_ORDER) {
      const m = SENTENCES[name].read(t);
      if (m !== null) return m;
    }
    return { kind: "raw", tree: t };
  }

  // The builder's model of a JSON tree (null: an empty rule): always a group at the top.
  function toModel(tree) {
    if (tree === null || tree === undefined) return { kind: "group", mode: "all", items: [] };
    const node = toNode(tree);
    return node.kind === "group" ? node : { kind: "group", mode: "all", items: [node] };
  }

  function fromNode(m) {
    if (m.kind === "raw") return m.tree;
    if (m.kind !== "group") return SENTENCES[m.kind].write(m);
    const items = m.items.map(fromNode).filter((t) => t !== null);
    if (items.length === 0) return null;
    if (m.mode === "none") {
      const operand = items.length === 1 ? items[0] : { type: "or", items };
      return { type: "not", operand };
    }
    if (items.length === 1) return items[0];
    return { type: m.mode === "all" ? "and" : "or", items };
  }

  // The JSON tree of a model (null: nothing is left in it).
  function fromModel(model) {
    return fromNode(model);
  }

  // Whether a model shows every part as pickers (no part kept as its own text).
  function allPickers(model) {
    if (model.kind === "raw") return false;
    return model.kind !== "group" || model.items.every(allPickers);
  }

  const pure = { toModel, fromModel, allPickers };
  if (typeof module !== "undefined" && module.exports) {
    module.exports = pure;
  }
  if (typeof document === "undefined") return;

  // ---- the page's UI ------------------------------------------------------------------

  const OP_WORDS = { ">": "more than", ">=": "at least", "<": "less than", "<=": "at most", "=": "exactly" };
  const FIELD_OPS = {
    string: ["=", "!=", "in", "not in", "contains", "not contains", "starts with",
      "not starts with", "ends with", "not ends with", "is empty", "is not empty"],
    number: ["=", "!=", ">", ">=", "<", "<=", "is empty", "is not empty"],
    integer: ["=", "!=", ">", ">=", "<", "<=", "is empty", "is not empty"],
    boolean: ["=", "is true", "is empty", "is not empty"],
    date: ["=", "!=", ">", ">=", "<", "<=", "is empty", "is not empty"],
    timestamp: ["=", "!=", ">", ">=", "<", "<=", "is empty", "is not empty"],
    list: ["contains", "not contains", "is empty", "is not empty"],
  };
  const KIND_OF_TYPE = {
    string: "string", list: "string", number: "number", integer: "number",
    boolean: "boolean", date: "date", timestamp: "timestamp",
  };
  const NEW_CONDITION = {
    spent: () => ({ kind: "spent", op: ">", amount: "100", days: 90 }),
    bought: () => ({ kind: "bought", field: "brand", value: "", days: 90 }),
    viewed: () => ({ kind: "viewed", op: ">", times: "2", sku: "", days: 30 }),
    wishlist: () => ({ kind: "wishlist", sku: "" }),
    segment: () => ({ kind: "segment", code: "" }),
    field: () => ({ kind: "field", field: "", op: "=", values: [""], vkind: "string" }),
    group: () => ({ kind: "group", mode: "any", items: [] }),
  };
  const NEW_LABELS = {
    spent: "spent…", bought: "bought…", viewed: "viewed a product…",
    wishlist: "has in the wishlist…", segment: "is in segment…", field: "a field…",
    group: "a group…",
  };

  function csrf() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }
  async function post(url, body) {
    const answer = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
    });
    const data = await answer.json().catch(() => ({ error: "the server did not answer JSON" }));
    return { ok: answer.ok, data };
  }
  let fieldsPromise = null;
  function fields() {
    if (fieldsPromise === null) {
      fieldsPromise = fetch("/builder/fields", { credentials: "same-origin" })
        .then((r) => (r.ok ? r.json() : { fields: [] }))
        .then((d) => d.fields)
        .catch(() => []);
    }
    return fieldsPromise;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children || []) node.append(child);
    return node;
  }
  function select(options, value, onchange, label) {
    const s = el("select", { "aria-label": label, onchange: () => onchange(s.value) });
    for (const [v, text] of options) s.append(el("option", { value: v, text }));
    s.value = value;
    return s;
  }

  // A text input whose suggestions are the store's values of ``field`` (a list of buttons
  // under it: choosing one sets the value).
  function valueInput(value, field, onchange, label, type) {
    const input = el("input", { type: type || "text", value: value, "aria-label": label });
    const list = el("ul", { class: "suggestions", role: "listbox", hidden: "" });
    let timer = null;
    const suggest = async () => {
      if (!field) return;
      const url = "/builder/values?" + new URLSearchParams({ field, prefix: input.value, limit: "8" });
      const answer = await fetch(url, { credentials: "same-origin" }).catch(() => null);
      const data = answer && answer.ok ? await answer.json() : { values: [] };
      list.replaceChildren();
      for (const v of data.values) {
        const text = String(v.value) + (v.label ? " — " + v.label : "");
        const button = el("button", {
          type: "button", class: "suggestion", "data-value": String(v.value),
          onclick: () => {
            input.value = String(v.value);
            list.hidden = true;
            onchange(input.value, true);
          },
        }, [text, el("small", { text: " " + v.count })]);
        list.append(el("li", {}, [button]));
      }
      list.hidden = data.values.length === 0;
    };
    input.addEventListener("input", () => {
      onchange(input.value, false);
      clearTimeout(timer);
      timer = setTimeout(suggest, 200);
    });
    input.addEventListener("focus", () => {
      clearTimeout(timer);
      timer = setTimeout(suggest, 50);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") list.hidden = true;
    });
    return el("span", { class: "value-input" }, [input, list]);
  }

  function Builder(textarea) {
    this.textarea = textarea;
    this.model = toModel(null);
    this.mode = "text";
    const builderButton = el("button", { type: "button", class: "mode", text: "Builder", onclick: () => this.toBuilder() });
    const textButton = el("button", { type: "button", class: "mode", text: "Text", onclick: () => this.toText() });
    this.buttons = { builder: builderButton, text: textButton };
    this.message = el("p", { class: "builder-message", "aria-live": "polite" });
    this.panel = el("div", { class: "builder-panel", hidden: "" });
    this.root = el("div", { class: "rule-builder" }, [
      el("div", { class: "builder-modes", role: "group", "aria-label": "Edit the rule as" }, [builderButton, textButton]),
      this.panel,
      this.message,
    ]);
    textarea.before(this.root);
    this.showMode();
  }
  Builder.prototype.showMode = function () {
    this.buttons.builder.setAttribute("aria-pressed", String(this.mode === "builder"));
    this.buttons.text.setAttribute("aria-pressed", String(this.mode === "text"));
    this.panel.hidden = this.mode !== "builder";
    this.textarea.hidden = this.mode === "builder";
  };
  Builder.prototype.toBuilder = async function () {
    const { ok, data } = await post("/builder/tree", { text: this.textarea.value });
    if (!ok) {
      this.message.textContent = "The text has an error, so it stays text: " + (data.error || "");
      return;
    }
    this.model = toModel(data.tree);
    this.mode = "builder";
    this.message.textContent = allPickers(this.model)
      ? ""
      : "Parts no picker can show are kept as their text; switch to Text to edit them.";
    await this.render();
    this.showMode();
  };
  Builder.prototype.toText = function () {
    this.mode = "text";
    this.showMode();
  };
  // The model changed: ask for its text and put it in the textarea (which validates it).
  Builder.prototype.changed = function (rerender) {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      const { ok, data } = await post("/builder/text", { tree: fromModel(this.model) });
      if (!ok) {
        this.message.textContent = "Not a rule yet: " + (data.error || "");
        return;
      }
      this.message.textContent = "";
      if (this.textarea.value !== data.text) {
        this.textarea.value = data.text;
        this.textarea.dispatchEvent(new Event("input", { bubbles: true }));
        this.textarea.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }, 250);
    if (rerender) this.render();
  };
  Builder.prototype.render = async function () {
    const known = await fields();
    // a field condition reads the customer or the request (item fields are in sentences)
    this.fields = known.filter((f) => ["customer", "derived", "attribute", "context"].includes(f.scope));
    this.panel.replaceChildren(this.group(this.model, null));
  };
  Builder.prototype.group = function (g, parent) {
    const rows = el("ol", { class: "builder-items" });
    g.items.forEach((item, i) => {
      const remove = el("button", {
        type: "button", class: "remove", "aria-label": "Remove", text: "×",
        onclick: () => { g.items.splice(i, 1); this.changed(true); },
      });
      const body = item.kind === "group" ? this.group(item, g) : this.condition(item);
      rows.append(el("li", { class: "builder-item" }, [body, remove]));
    });
    const add = select(
      [["", "+ add…"], ...Object.entries(NEW_LABELS)], "",
      (kind) => { if (kind) { g.items.push(NEW_CONDITION[kind]()); this.changed(true); } },
      "Add a condition",
    );
    add.classList.add("add");
    const mode = select(
      [["all", "all of"], ["any", "any of"], ["none", "none of"]], g.mode,
      (v) => { g.mode = v; this.changed(false); }, "Group",
    );
    const head = el("div", { class: "builder-group-head" }, [
      el("span", { text: parent ? "" : "Customers who match " }), mode,
      el("span", { text: " these:" }),
    ]);
    return el("div", { class: "builder-group", "data-mode": g.mode }, [head, rows, add]);
  };
  Builder.prototype.number = function (value, onchange, label) {
    const input = el("input", { type: "text", inputmode: "decimal", value: String(value), "aria-label": label, size: "6" });
    input.addEventListener("input", () => onchange(input.value));
    return input;
  };
  Builder.prototype.days = function (m) {
    return this.number(m.days, (v) => { m.days = Number.parseInt(v, 10) || 0; this.changed(false); }, "days");
  };
  Builder.prototype.opWords = function (m, key) {
    return select(AMOUNT_OPS.map((o) => [o, OP_WORDS[o]]), m[key], (v) => { m[key] = v; this.changed(false); }, "comparison");
  };
  Builder.prototype.condition = function (m) {
    const set = (key) => (v) => { m[key] = v; this.changed(false); };
    const text = (s) => el("span", { text: s });
    const box = (kind, parts) => el("div", { class: "builder-condition", "data-kind": kind }, parts);
    switch (m.kind) {
      case "spent":
        return box("spent", [text("spent "), this.opWords(m, "op"), text(" $"),
          this.number(m.amount, set("amount"), "amount"), text(" in the last "), this.days(m), text(" days")]);
      case "bought": {
        const field = select(ITEM_FIELDS.map((f) => [f, f === "product_name" ? "product" : f]), m.field,
          (v) => { m.field = v; this.changed(true); }, "what was bought");
        return box("bought", [text("bought from "), field, text(" "),
          valueInput(m.value, "lines." + m.field, set("value"), "value"),
          text(" in the last "), this.days(m), text(" days")]);
      }
      case "viewed":
        return box("viewed", [text("viewed product "), valueInput(m.sku, "events.sku", set("sku"), "product"),
          text(" "), this.opWords(m, "op"), text(" "), this.number(m.times, set("times"), "times"),
          text(" times in the last "), this.days(m), text(" days")]);
      case "wishlist":
        return box("wishlist", [text("has "), valueInput(m.sku, "wishlist.sku", set("sku"), "product"),
          text(" in the wishlist")]);
      case "segment":
        return box("segment", [text("is in segment "), valueInput(m.code, "segment", set("code"), "segment")]);
      case "field":
        return box("field", this.fieldCondition(m));
      default: {
        // kept as it is; shown as its text (edited in Text mode)
        const code = el("code", { class: "raw-text", text: "…" });
        post("/builder/text", { tree: m.tree }).then(({ ok, data }) => {
          code.textContent = ok ? data.text : "?";
        });
        return box("raw", [code]);
      }
    }
  };
  Builder.prototype.fieldCondition = function (m) {
    const info = this.fields.find((f) => f.name === m.field);
    const type = info ? info.type : "string";
    const options = this.fields.map((f) => [f.name, f.name]);
    if (m.field && !info) options.unshift([m.field, m.field]);
    options.unshift(["", "choose a field…"]);
    const field = select(options, m.field, (v) => {
      const chosen = this.fields.find((f) => f.name === v);
      m.field = v;
      m.vkind = chosen ? KIND_OF_TYPE[chosen.type] || "string" : "string";
      if (chosen && !(FIELD_OPS[chosen.type] || []).includes(m.op)) m.op = FIELD_OPS[chosen.type][0];
      if (m.vkind === "boolean") m.values = [true];
      this.changed(true);
    }, "field");
    const ops = FIELD_OPS[type] || FIELD_OPS.string;
    const opOptions = (ops.includes(m.op) ? ops : [m.op, ...ops]).map((o) => [o, o]);
    const op = select(opOptions, m.op, (v) => {
      m.op = v;
      if (v === "is empty" || v === "is not empty" || v === "is true") m.values = [];
      else if (m.values.length === 0) m.values = [m.vkind === "boolean" ? true : ""];
      this.changed(true);
    }, "operator");
    const parts = [field, op];
    if (!["is empty", "is not empty", "is true"].includes(m.op)) {
      const suggest = info && info.values ? m.field : null;
      if (m.vkind === "boolean") {
        parts.push(select([["true", "true"], ["false", "false"]], String(m.values[0] !== false),
          (v) => { m.values = [v === "true"]; this.changed(false); }, "value"));
      } else if (m.op === "in" || m.op === "not in") {
        const input = el("input", { type: "text", value: m.values.join(", "), "aria-label": "values, separated by commas" });
        input.addEventListener("input", () => {
          m.values = input.value.split(",").map((v) => v.trim()).filter((v) => v !== "");
          this.changed(false);
        });
        parts.push(input);
      } else {
        const type = m.vkind === "date" ? "date" : "text";
        parts.push(valueInput(m.values[0] ?? "", suggest, (v) => { m.values = [v]; this.changed(false); }, "value", type));
      }
    }
    return parts;
  };

  // ---- text mode: suggestions of fields and values as one types -----------------------

  const TOP_LEVEL = ["customer", "derived", "attribute", "context"];

  // What is being typed at the caret: a value inside quotes (with the field whose values
  // fit), or a field name (inside an item scope, that collection's fields).
  function typing(before) {
    const scope = openScope(before);
    const quoted = /(?:IN\s+SEGMENT\s+'([^']*)$)|(?:([A-Za-z_][\w.]*)\s*(?:=|!=|<>|\bIN\s*\((?:\s*'[^']*'\s*,)*|\bCONTAINS|\bSTARTS\s+WITH|\bENDS\s+WITH)\s*'([^']*)$)/i.exec(before);
    if (quoted) {
      if (quoted[1] !== undefined) return { what: "value", field: "segment", prefix: quoted[1] };
      const name = quoted[2];
      const field = scope && !name.includes(".") ? scope + "." + name : name;
      return { what: "value", field, prefix: quoted[3] };
    }
    if ((before.match(/'/g) || []).length % 2 === 1) return null; // inside another string
    const word = /([A-Za-z_][\w.]*)$/.exec(before);
    if (!word) return null;
    return { what: "field", scope, prefix: word[1] };
  }
  // The collection of the innermost "(collection WHERE" still open before the caret.
  function openScope(before) {
    const re = /\(\s*([a-z_]+(?:\.[a-z_]+)?)(?:\.[a-z_]+)?\s+WHERE\b/gi;
    let found = null;
    let m;
    while ((m = re.exec(before)) !== null) {
      const rest = before.slice(m.index + 1);
      const depth = (rest.match(/\(/g) || []).length - (rest.match(/\)/g) || []).length;
      if (depth >= 0) found = m[1].toLowerCase();
    }
    return found;
  }

  function TextSuggestions(textarea) {
    this.textarea = textarea;
    this.list = el("ul", { class: "suggestions text-suggestions", role: "listbox", hidden: "" });
    textarea.after(this.list);
    let timer = null;
    textarea.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.suggest(), 200);
    });
    textarea.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.list.hidden = true;
    });
  }
  TextSuggestions.prototype.suggest = async function () {
    const t = this.textarea;
    if (t.hidden || document.activeElement !== t) return;
    const before = t.value.slice(0, t.selectionStart);
    const at = typing(before);
    let options = [];
    if (at && at.what === "value") {
      const url = "/builder/values?" + new URLSearchParams({ field: at.field, prefix: at.prefix, limit: "8" });
      const answer = await fetch(url, { credentials: "same-origin" }).catch(() => null);
      const data = answer && answer.ok ? await answer.json() : { values: [] };
      options = data.values.map((v) => ({
        insert: String(v.value).replace(/'/g, "''"), shown: String(v.value) + (v.label ? " — " + v.label : ""),
        count: v.count, replace: at.prefix.length, close: "'",
      }));
    } else if (at && at.what === "field" && at.prefix.length >= 2) {
      const known = await fields();
      const lower = at.prefix.toLowerCase();
      options = known
        .filter((f) => (at.scope ? f.scope === at.scope : TOP_LEVEL.includes(f.scope)))
        .map((f) => ({ ...f, short: at.scope ? f.name.slice(at.scope.length + 1) : f.name }))
        .filter((f) => f.short.toLowerCase().startsWith(lower) && f.short.toLowerCase() !== lower)
        .slice(0, 8)
        .map((f) => ({ insert: f.short, shown: f.short, count: f.type, replace: at.prefix.length }));
    }
    this.list.replaceChildren(...options.map((o) => el("li", {}, [el("button", {
      type: "button", class: "suggestion", "data-value": o.insert,
      onclick: () => this.choose(o),
    }, [o.shown, el("small", { text: " " + o.count })])])));
    this.list.hidden = options.length === 0;
  };
  TextSuggestions.prototype.choose = function (o) {
    const t = this.textarea;
    const caret = t.selectionStart;
    const after = t.value.slice(caret);
    const insert = o.insert + (o.close && !after.startsWith(o.close) ? o.close : "");
    t.value = t.value.slice(0, caret - o.replace) + insert + after;
    const end = caret - o.replace + insert.length;
    t.focus();
    t.setSelectionRange(end, end);
    this.list.hidden = true;
    t.dispatchEvent(new Event("input", { bubbles: true }));
  };

  function start() {
    document.querySelectorAll("textarea[data-rule-builder]").forEach((t) => {
      if (!t.ruleBuilder) {
        t.ruleBuilder = new Builder(t);
        t.ruleSuggestions = new TextSuggestions(t);
      }
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  document.addEventListener("htmx:load", start);
  root.segmintBuilder = pure;
})(typeof window !== "undefined" ? window : globalThis);
