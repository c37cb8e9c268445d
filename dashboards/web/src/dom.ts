/** Small helpers to build DOM without a framework. */

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>

/**
 * `h('button', { class: 'x', 'data-testid': 'y', onclick: fn }, 'text')`.
 * `on*` functions become listeners; `false`/`null`/`undefined` attributes are left out.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue
    if (typeof value === 'function') {
      el.addEventListener(name.slice(2), value)
    } else if (name === 'value' && (el instanceof HTMLInputElement || el instanceof HTMLSelectElement || el instanceof HTMLTextAreaElement)) {
      el.value = String(value)
    } else {
      el.setAttribute(name, value === true ? '' : String(value))
    }
  }
  append(el, children)
  return el
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)))
  }
}

/** Replaces all children. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren()
  append(parent, children)
}

/** Sets text only when it changed (avoids needless layout on 1 Hz updates). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text
}

export function setAttr(el: Element, name: string, value: string | number | null | undefined): void {
  if (value === null || value === undefined) {
    if (el.hasAttribute(name)) el.removeAttribute(name)
    return
  }
  const text = String(value)
  if (el.getAttribute(name) !== text) el.setAttribute(name, text)
}

/**
 * Keyed list update: reuses the element of each key, creates new ones, removes the
 * missing ones, and keeps the items' order. Elements survive live updates, so a
 * hover, a focus or a test's handle on them is not lost every second.
 */
export function keyed<T>(
  container: Element,
  items: readonly T[],
  key: (item: T) => string,
  create: (item: T) => HTMLElement,
  update: (el: HTMLElement, item: T) => void,
): void {
  const existing = new Map<string, HTMLElement>()
  for (const child of Array.from(container.children)) {
    const k = (child as HTMLElement).dataset['key']
    if (k !== undefined) existing.set(k, child as HTMLElement)
    else child.remove()
  }
  let previous: Element | null = null
  for (const item of items) {
    const k = key(item)
    let el = existing.get(k)
    if (el) existing.delete(k)
    else {
      el = create(item)
      el.dataset['key'] = k
    }
    update(el, item)
    const expectedNext: Element | null = previous ? previous.nextElementSibling : container.firstElementChild
    if (expectedNext !== el) container.insertBefore(el, expectedNext)
    previous = el
  }
  for (const el of existing.values()) el.remove()
}

export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number): ((...args: A) => void) & { cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined
  const wrapped = (...args: A) => {
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      fn(...args)
    }, ms)
  }
  wrapped.cancel = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
  }
  return wrapped
}
